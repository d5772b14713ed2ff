/**
 * The page's third-party assets, embedded in the binary as text (Bun's `with { type: "text" }`
 * imports are bundled by `bun build --compile`): uPlot (MIT, a small canvas charting library,
 * npm `uplot`), its minified IIFE build (defines the global `uPlot`) and its stylesheet. The page
 * needs nothing from the network.
 */

import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** The assets by URL path: content type and body. */
export const PAGE_ASSETS: Record<string, { type: string; body: string }> = {
  "/assets/uPlot.min.js": { type: "text/javascript; charset=utf-8", body: uplotJs },
  "/assets/uPlot.min.css": { type: "text/css; charset=utf-8", body: uplotCss },
};
