/** Preloaded by `bun test` (bunfig.toml): removes the test run's temp directories after all tests. */
import { afterAll } from "bun:test";
import { removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);
