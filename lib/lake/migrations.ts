/**
 * Numbered catalog migrations. Each runs once, in order, in one transaction with the row
 * that records it in `migrations(version)`. Column names and meanings follow micromegas
 * (reference/micromegas.md §1 and §3); where DuckDB lacks a feature (GiST exclusion, advisory
 * locks) the invariant is enforced in code.
 */
import { defaultTraceNameSql } from "./traces.ts";

/** One migration: its version, what it does, and its statements. */
export interface Migration {
  version: number;
  description: string;
  statements: string[];
}

/** All migrations, in order. The catalog schema is `lake` (the ATTACH alias). */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "catalog tables: processes, streams, blocks, ingests, lakehouse_partitions, temporary_files",
    statements: [
      `CREATE TABLE lake.processes(
        process_id VARCHAR PRIMARY KEY,
        exe VARCHAR,
        username VARCHAR,
        realname VARCHAR,
        computer VARCHAR,
        distro VARCHAR,
        cpu_brand VARCHAR,
        tsc_frequency BIGINT,
        start_time TIMESTAMP_NS,
        start_ticks BIGINT,
        parent_process_id VARCHAR,
        properties JSON,
        insert_time TIMESTAMPTZ NOT NULL,
        source_pid VARCHAR,
        source_file VARCHAR,
        trace_format VARCHAR,
        ingest_id VARCHAR NOT NULL)`,
      `CREATE TABLE lake.streams(
        stream_id VARCHAR PRIMARY KEY,
        process_id VARCHAR NOT NULL,
        tags VARCHAR[] NOT NULL,
        properties JSON,
        insert_time TIMESTAMPTZ NOT NULL)`,
      `CREATE TABLE lake.blocks(
        block_id VARCHAR PRIMARY KEY,
        stream_id VARCHAR NOT NULL,
        process_id VARCHAR NOT NULL,
        begin_time TIMESTAMP_NS,
        end_time TIMESTAMP_NS,
        nb_objects BIGINT NOT NULL,
        payload_size BIGINT NOT NULL,
        file_path VARCHAR NOT NULL,
        insert_time TIMESTAMPTZ NOT NULL,
        schema_version INTEGER NOT NULL)`,
      `CREATE TABLE lake.ingests(
        ingest_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        source_size BIGINT,
        content_size BIGINT NOT NULL,
        content_hash VARCHAR NOT NULL,
        prefix_hash VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        nb_events BIGINT NOT NULL,
        nb_processes BIGINT NOT NULL,
        nb_streams BIGINT NOT NULL,
        nb_blocks BIGINT NOT NULL,
        summary JSON,
        properties JSON,
        started TIMESTAMPTZ NOT NULL,
        insert_time TIMESTAMPTZ NOT NULL)`,
      "CREATE INDEX ingests_content_hash ON lake.ingests(content_hash)",
      `CREATE TABLE lake.lakehouse_partitions(
        view_set_name VARCHAR NOT NULL,
        view_instance_id VARCHAR NOT NULL,
        begin_insert_time TIMESTAMPTZ NOT NULL,
        end_insert_time TIMESTAMPTZ NOT NULL,
        min_event_time TIMESTAMP_NS,
        max_event_time TIMESTAMP_NS,
        updated TIMESTAMPTZ NOT NULL,
        file_path VARCHAR,
        file_size BIGINT NOT NULL,
        file_schema_hash BLOB NOT NULL,
        source_data_hash BLOB NOT NULL,
        num_rows BIGINT NOT NULL,
        CHECK (num_rows >= 0),
        CHECK ((num_rows = 0) = (file_path IS NULL)),
        CHECK ((num_rows = 0) = (min_event_time IS NULL)),
        CHECK ((min_event_time IS NULL) = (max_event_time IS NULL)))`,
      `CREATE TABLE lake.temporary_files(
        file_path VARCHAR NOT NULL,
        file_size BIGINT NOT NULL,
        expiration TIMESTAMPTZ NOT NULL)`,
    ],
  },
  {
    version: 2,
    description: "traces: ingests.name (a name the user sets and changes), filled for existing ingests",
    statements: [
      // A trace is an ingest (lib/lake/traces.ts). Existing ingests are named as a new one would
      // be by default (defaultTraceNameSql), '#2', '#3'... for later ingests of the same name.
      "ALTER TABLE lake.ingests ADD COLUMN name VARCHAR",
      `UPDATE lake.ingests SET name = n.name FROM (
         SELECT ingest_id, CASE WHEN k = 1 THEN base ELSE base || '#' || k END AS name
         FROM (SELECT ingest_id, base, row_number() OVER (PARTITION BY base ORDER BY insert_time, ingest_id) AS k
               FROM (SELECT ingest_id, insert_time, ${defaultTraceNameSql("source")} AS base
                     FROM lake.ingests))) n
       WHERE lake.ingests.ingest_id = n.ingest_id`,
    ],
  },
];

/** The newest catalog version this build knows. */
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
