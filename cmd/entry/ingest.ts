/** main.ts's loader for `ingest`: see the rule in main.ts's file comment (Bun code-splitting). */
export { ingestCommand } from "../ingest.ts";
