/** main.ts's loader for `partitions`: see the rule in main.ts's file comment (Bun code-splitting). */
export { partitionsCommand } from "../partitions.ts";
