/**
 * Perfetto's protobuf field numbers and enum values, by message and field name, for the
 * importer (lib/ingest/perfetto/) and the writer (packets.ts): one copy of each number.
 *
 * Source: the .proto files of github:google/perfetto at commit ec5d16b1 (2026-08-22), as listed
 * in reference/perfetto.md §2 (paths below are relative to that repository). Each object is named
 * after its proto message and each key after the proto field (or enum value), so
 * `TracePacket.track_event` is `TracePacket.track_event = 11` in trace_packet.proto.
 */

/** `Trace` (protos/perfetto/trace/trace.proto): the file is a stream of its `packet` records. */
export const Trace = {
  /** repeated TracePacket (LEN). */
  packet: 1,
} as const;

/** `TracePacket` (protos/perfetto/trace/trace_packet.proto; reference §2.2). */
export const TracePacket = {
  /** uint64: ns in the trace clock unless `timestamp_clock_id` (or the sequence default) says otherwise. */
  timestamp: 8,
  /** uint32: clock of `timestamp` (BuiltinClock, or 64..127 sequence-scoped). */
  timestamp_clock_id: 58,
  /** ClockSnapshot (data oneof). */
  clock_snapshot: 6,
  /** TrackEvent (data oneof). */
  track_event: 11,
  /** InternedData. */
  interned_data: 12,
  /** uint32 bit set of SequenceFlags. */
  sequence_flags: 13,
  /** int32 (written by the tracing service). */
  trusted_uid: 3,
  /** uint32: the writer's sequence; 0 = none. */
  trusted_packet_sequence_id: 10,
  /** bool, deprecated: same as SEQ_INCREMENTAL_STATE_CLEARED (trace_processor still honours it). */
  incremental_state_cleared: 41,
  /** uint32 DataLossReason bit set: packets were lost before this one. */
  previous_packet_dropped: 42,
  /** bytes: deflate of concatenated `Trace.packet` records. */
  compressed_packets: 50,
  /** TracePacketDefaults. */
  trace_packet_defaults: 59,
  /** TrackDescriptor (data oneof). */
  track_descriptor: 60,
  /** int32. */
  trusted_pid: 79,
  /** bool. */
  first_packet_on_sequence: 87,
  /** uint32. */
  machine_id: 98,
} as const;

/** `TracePacket.SequenceFlags` (trace_packet.proto): bits of `sequence_flags`. */
export const SequenceFlags = {
  SEQ_INCREMENTAL_STATE_CLEARED: 1,
  SEQ_NEEDS_INCREMENTAL_STATE: 2,
} as const;

/**
 * Names of the TracePacket data fields the importer does not import, for its summary
 * (trace_packet.proto field numbers).
 */
export const TRACE_PACKET_OTHER_FIELDS: Readonly<Record<number, string>> = {
  1: "ftrace_events",
  2: "process_tree",
  5: "chrome_events",
  7: "sys_stats",
  9: "process_stats",
  33: "trace_config",
  35: "trace_stats",
  36: "synchronization_marker",
  39: "android_log",
  43: "process_descriptor (deprecated)",
  44: "thread_descriptor (deprecated)",
  37: "profile_packet",
  38: "battery",
  40: "power_rails",
  45: "system_info",
  46: "trigger",
  47: "packages_list",
  49: "perfetto_metatrace",
  66: "perf_sample",
  67: "cpu_info",
  95: "etw_events",
  124: "trace_provenance",
  51: "chrome_metadata",
  69: "service_event",
  72: "extension_descriptor",
  89: "trace_uuid",
  133: "zstd_compressed_packets (not supported)",
};

/** `TracePacketDefaults` (protos/perfetto/trace/trace_packet_defaults.proto; reference §2.12). */
export const TracePacketDefaults = {
  /** uint32. */
  timestamp_clock_id: 58,
  /** TrackEventDefaults. */
  track_event_defaults: 11,
} as const;

/** `TrackEventDefaults` (protos/perfetto/trace/track_event/track_event.proto; reference §2.7). */
export const TrackEventDefaults = {
  /** uint64. */
  track_uuid: 11,
  /** repeated uint64. */
  extra_counter_track_uuids: 31,
  /** repeated uint64. */
  extra_double_counter_track_uuids: 45,
} as const;

/** `ClockSnapshot` (protos/perfetto/trace/clock_snapshot.proto; reference §2.13). */
export const ClockSnapshot = {
  /** repeated ClockSnapshot.Clock. */
  clocks: 1,
  /** BuiltinClock. */
  primary_trace_clock: 2,
} as const;

/** `ClockSnapshot.Clock` (clock_snapshot.proto). */
export const ClockSnapshotClock = {
  /** uint32. */
  clock_id: 1,
  /** uint64, in the clock's units. */
  timestamp: 2,
  /** bool: packet timestamps in this clock are deltas from the previous one. */
  is_incremental: 3,
  /** uint64: ns per unit. */
  unit_multiplier_ns: 4,
} as const;

/** `BuiltinClock` values (protos/perfetto/common/builtin_clock.proto); ids 64..127 are sequence-scoped. */
export const BuiltinClock = {
  REALTIME: 1,
  MONOTONIC: 3,
  BOOTTIME: 6,
  /** First sequence-scoped clock id. */
  SEQUENCE_SCOPED_FIRST: 64,
  /** One past the last sequence-scoped clock id. */
  SEQUENCE_SCOPED_END: 128,
} as const;

/** `TrackDescriptor` (protos/perfetto/trace/track_event/track_descriptor.proto; reference §2.3). */
export const TrackDescriptor = {
  /** uint64. */
  uuid: 1,
  /** string (static_or_dynamic_name oneof). */
  name: 2,
  /** ProcessDescriptor. */
  process: 3,
  /** ThreadDescriptor. */
  thread: 4,
  /** uint64. */
  parent_uuid: 5,
  /** CounterDescriptor. */
  counter: 8,
  /** string (static_or_dynamic_name oneof). */
  static_name: 10,
  /** string (static_or_dynamic_name oneof). */
  atrace_name: 13,
} as const;

/** `ProcessDescriptor` (.../track_event/process_descriptor.proto; reference §2.4). */
export const ProcessDescriptor = {
  /** int32. */
  pid: 1,
  /** string. */
  process_name: 6,
  /** repeated string. */
  process_labels: 8,
} as const;

/** `ThreadDescriptor` (.../track_event/thread_descriptor.proto; reference §2.5). */
export const ThreadDescriptor = {
  /** int32. */
  pid: 1,
  /** int64. */
  tid: 2,
  /** string. */
  thread_name: 5,
} as const;

/** `CounterDescriptor` (.../track_event/counter_descriptor.proto; reference §2.6). */
export const CounterDescriptor = {
  /** BuiltinCounterType. */
  type: 1,
  /** Unit. */
  unit: 3,
  /** int64. */
  unit_multiplier: 4,
  /** bool. */
  is_incremental: 5,
  /** string. */
  unit_name: 6,
} as const;

/** `CounterDescriptor.BuiltinCounterType` (counter_descriptor.proto). */
export const BuiltinCounterType = {
  COUNTER_UNSPECIFIED: 0,
  COUNTER_THREAD_TIME_NS: 1,
  COUNTER_THREAD_INSTRUCTION_COUNT: 2,
} as const;

/** `CounterDescriptor.Unit` (counter_descriptor.proto). */
export const CounterUnit = {
  UNIT_UNSPECIFIED: 0,
  UNIT_TIME_NS: 1,
  UNIT_COUNT: 2,
  UNIT_SIZE_BYTES: 3,
} as const;

/** `TrackEvent` (protos/perfetto/trace/track_event/track_event.proto; reference §2.7). */
export const TrackEvent = {
  /** repeated uint64, unpacked: interned EventCategory iids. */
  category_iids: 3,
  /** repeated DebugAnnotation. */
  debug_annotations: 4,
  /** LegacyEvent. */
  legacy_event: 6,
  /** Type. */
  type: 9,
  /** uint64: interned EventName (name_field oneof). */
  name_iid: 10,
  /** uint64. */
  track_uuid: 11,
  /** repeated int64. */
  extra_counter_values: 12,
  /** LogMessage. */
  log_message: 21,
  /** repeated string. */
  categories: 22,
  /** string (name_field oneof). */
  name: 23,
  /** int64 (counter_value_field oneof). */
  counter_value: 30,
  /** repeated uint64. */
  extra_counter_track_uuids: 31,
  /** SourceLocation (source_location_field oneof). */
  source_location: 33,
  /** uint64 (source_location_field oneof). */
  source_location_iid: 34,
  /** repeated uint64, deprecated varint form of `flow_ids`. */
  flow_ids_old: 36,
  /** repeated uint64, deprecated varint form of `terminating_flow_ids`. */
  terminating_flow_ids_old: 42,
  /** double (counter_value_field oneof). */
  double_counter_value: 44,
  /** repeated uint64. */
  extra_double_counter_track_uuids: 45,
  /** repeated double. */
  extra_double_counter_values: 46,
  /** repeated fixed64. */
  flow_ids: 47,
  /** repeated fixed64. */
  terminating_flow_ids: 48,
} as const;

/** `TrackEvent.Type` (track_event.proto). */
export const TrackEventType = {
  TYPE_UNSPECIFIED: 0,
  TYPE_SLICE_BEGIN: 1,
  TYPE_SLICE_END: 2,
  TYPE_INSTANT: 3,
  TYPE_COUNTER: 4,
  TYPE_STATE: 5,
} as const;

/** `TrackEvent.LegacyEvent` (track_event.proto). */
export const LegacyEvent = {
  /** uint64: interned EventName. */
  name_iid: 1,
  /** int32: the Chrome JSON phase character. */
  phase: 2,
  /** int64 µs. */
  duration_us: 3,
  /** int64 µs. */
  thread_duration_us: 4,
  /** uint64 (id oneof). */
  unscoped_id: 6,
  /** string. */
  id_scope: 7,
  /** uint64. */
  bind_id: 8,
  /** uint64 (id oneof). */
  local_id: 10,
  /** uint64 (id oneof). */
  global_id: 11,
  /** bool. */
  bind_to_enclosing: 12,
  /** FlowDirection: FLOW_IN = 1, FLOW_OUT = 2, FLOW_INOUT = 3. */
  flow_direction: 13,
  /** InstantEventScope: SCOPE_GLOBAL = 1, SCOPE_PROCESS = 2, SCOPE_THREAD = 3. */
  instant_event_scope: 14,
  /** int32. */
  pid_override: 18,
  /** int32. */
  tid_override: 19,
} as const;

/** `DebugAnnotation` (.../track_event/debug_annotation.proto; reference §2.8). */
export const DebugAnnotation = {
  /** uint64: interned DebugAnnotationName (name_field oneof). */
  name_iid: 1,
  bool_value: 2,
  uint_value: 3,
  /** int64. */
  int_value: 4,
  double_value: 5,
  string_value: 6,
  pointer_value: 7,
  /** string holding JSON. */
  legacy_json_value: 9,
  /** string (name_field oneof). */
  name: 10,
  /** repeated DebugAnnotation. */
  dict_entries: 11,
  /** repeated DebugAnnotation. */
  array_values: 12,
  /** bytes. */
  proto_value: 14,
  /** uint64: interned InternedString of debug_annotation_string_values. */
  string_value_iid: 17,
} as const;

/** `LogMessage` (.../track_event/log_message.proto; reference §2.9). */
export const LogMessage = {
  /** uint64: interned SourceLocation. */
  source_location_iid: 1,
  /** uint64: interned LogMessageBody. */
  body_iid: 2,
  /** Priority. */
  prio: 3,
} as const;

/** `SourceLocation` (.../track_event/source_location.proto; reference §2.10). */
export const SourceLocation = {
  iid: 1,
  file_name: 2,
  function_name: 3,
  /** uint32. */
  line_number: 4,
} as const;

/** `InternedData` (protos/perfetto/trace/interned_data/interned_data.proto; reference §2.11). */
export const InternedData = {
  /** EventCategory. */
  event_categories: 1,
  /** EventName. */
  event_names: 2,
  /** DebugAnnotationName. */
  debug_annotation_names: 3,
  /** SourceLocation. */
  source_locations: 4,
  /** LogMessageBody. */
  log_message_body: 20,
  /** InternedString. */
  debug_annotation_string_values: 29,
} as const;

/**
 * The interned entries with a name: EventCategory, EventName, DebugAnnotationName
 * (`{iid = 1; name = 2}`), LogMessageBody (`{iid = 1; body = 2}`), InternedString
 * (`{iid = 1; str = 2}`) (track_event.proto, debug_annotation.proto, log_message.proto,
 * interned_data.proto).
 */
export const InternedEntry = {
  iid: 1,
  /** `name`, `body` or `str`, by message. */
  name: 2,
} as const;
