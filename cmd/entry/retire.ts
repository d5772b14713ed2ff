/** main.ts's loader for `retire`: see the rule in main.ts's file comment (Bun code-splitting). */
export { retireCommand } from "../retire.ts";
