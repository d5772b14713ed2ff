#!/bin/sh
# The quick start: ingest a real Chromium startup trace into ./.demo-lake and summarize it.
# Run with `npm run demo`. Re-running it finds the trace already ingested.
set -e
cd "$(dirname "$0")/.."
TL="node_modules/.bin/bun main.ts --lake .demo-lake"
$TL ingest fixtures/chromium_startup.json.gz
echo
echo "Processes and their threads:"
$TL query -f table "
  SELECT p.source_pid AS pid, coalesce(p.exe, '(unnamed)') AS process,
         count(s.stream_id) AS threads,
         sum((SELECT sum(nb_objects) FROM blocks b WHERE b.stream_id = s.stream_id)) AS events
  FROM processes p JOIN streams s ON s.process_id = p.process_id AND list_contains(s.tags, 'cpu')
  GROUP BY ALL ORDER BY events DESC NULLS LAST"
echo
echo "Busiest threads:"
$TL query -f table --max-rows 10 "
  SELECT coalesce(p.exe, p.source_pid) AS process,
         coalesce(s.properties->>'thread-name', '(' || s.tags[1] || ' stream)') AS thread,
         s.properties->>'thread-id' AS tid, count(*) AS events,
         count(*) FILTER (WHERE r.ph = 'X') AS complete_slices
  FROM raw_events r JOIN streams s USING (stream_id) JOIN processes p ON p.process_id = r.process_id
  GROUP BY ALL ORDER BY events DESC LIMIT 10"
echo
echo "Top slices by count (thread_spans, materialized on first use):"
$TL query -f table --max-rows 15 "
  SELECT name, target AS cat, count(*) AS slices, round(sum(duration) / 1e6, 2) AS total_ms,
         round(max(duration) / 1e6, 2) AS max_ms, max(depth) AS max_depth
  FROM thread_spans GROUP BY ALL ORDER BY slices DESC LIMIT 15"
echo
echo "The browser process as a Perfetto trace (open it in https://ui.perfetto.dev):"
$TL export perfetto --process Browser -o .demo-lake/browser.pftrace
