/** Types of the text imports of page_assets.ts (Bun's `with { type: "text" }`: the file's text). */
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.min.css" {
  const text: string;
  export default text;
}
declare module "*/page_client.js" {
  const text: string;
  export default text;
}
