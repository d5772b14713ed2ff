/**
 * OTLP's protobuf field numbers, by message and field name, for the receiver's decoder
 * (otlp_wire.ts, decode.ts) and its responses: one copy of each number.
 *
 * Source: opentelemetry-proto v1.x, `opentelemetry/proto/{common,resource,trace,logs,metrics}/v1/*.proto`
 * and `collector/{trace,logs,metrics}/v1/*_service.proto`, and googleapis' `google/rpc/status.proto`.
 * Each object is named after its proto message and each key after the proto field, so
 * `Span.start_time_unix_nano` is `fixed64 start_time_unix_nano = 7` in trace.proto. The field
 * types are given in the comments and in otlp_wire.ts's message table. Only the fields tracelake
 * reads or writes are listed; a decoder skips the others.
 */

/**
 * `Export{Trace,Logs,Metrics}ServiceRequest`: the three have their list at the same number
 * (`resource_spans`, `resource_logs`, `resource_metrics`).
 */
export const ExportServiceRequest = {
  /** repeated Resource{Spans,Logs,Metrics}. */
  resource_items: 1,
} as const;

/** `ResourceSpans`, `ResourceLogs`, `ResourceMetrics`: the same numbers for the three. */
export const ResourceItems = {
  /** Resource. */
  resource: 1,
  /** repeated Scope{Spans,Logs,Metrics}. */
  scope_items: 2,
  /** repeated Scope{Spans,Logs,Metrics}: the deprecated `instrumentation_library_*` (old exporters). */
  instrumentation_library_items: 1000,
} as const;

/** `ScopeSpans`, `ScopeLogs`, `ScopeMetrics`: the same numbers for the three. */
export const ScopeItems = {
  /** InstrumentationScope. */
  scope: 1,
  /** repeated Span, LogRecord or Metric. */
  items: 2,
} as const;

/** `AnyValue` (common.proto): oneof value. */
export const AnyValue = {
  /** string. */
  string_value: 1,
  /** bool. */
  bool_value: 2,
  /** int64. */
  int_value: 3,
  /** double. */
  double_value: 4,
  /** ArrayValue. */
  array_value: 5,
  /** KeyValueList. */
  kvlist_value: 6,
  /** bytes. */
  bytes_value: 7,
} as const;

/** `ArrayValue` (common.proto). */
export const ArrayValue = {
  /** repeated AnyValue. */
  values: 1,
} as const;

/** `KeyValueList` (common.proto). */
export const KeyValueList = {
  /** repeated KeyValue. */
  values: 1,
} as const;

/** `KeyValue` (common.proto). */
export const KeyValue = {
  /** string. */
  key: 1,
  /** AnyValue. */
  value: 2,
} as const;

/** `InstrumentationScope` (common.proto). */
export const InstrumentationScope = {
  /** string. */
  name: 1,
  /** string. */
  version: 2,
  /** repeated KeyValue. */
  attributes: 3,
  /** uint32. */
  dropped_attributes_count: 4,
} as const;

/** `Resource` (resource.proto). */
export const Resource = {
  /** repeated KeyValue. */
  attributes: 1,
  /** uint32. */
  dropped_attributes_count: 2,
} as const;

/** `Span` (trace.proto). */
export const Span = {
  /** bytes (16). */
  trace_id: 1,
  /** bytes (8). */
  span_id: 2,
  /** string. */
  trace_state: 3,
  /** bytes (8). */
  parent_span_id: 4,
  /** fixed32. */
  flags: 16,
  /** string. */
  name: 5,
  /** SpanKind (int32 enum). */
  kind: 6,
  /** fixed64, Unix ns. */
  start_time_unix_nano: 7,
  /** fixed64, Unix ns. */
  end_time_unix_nano: 8,
  /** repeated KeyValue. */
  attributes: 9,
  /** uint32. */
  dropped_attributes_count: 10,
  /** repeated Span.Event. */
  events: 11,
  /** uint32. */
  dropped_events_count: 12,
  /** repeated Span.Link. */
  links: 13,
  /** uint32. */
  dropped_links_count: 14,
  /** Status. */
  status: 15,
} as const;

/** `Span.Event` (trace.proto). */
export const SpanEvent = {
  /** fixed64, Unix ns. */
  time_unix_nano: 1,
  /** string. */
  name: 2,
  /** repeated KeyValue. */
  attributes: 3,
  /** uint32. */
  dropped_attributes_count: 4,
} as const;

/** `Span.Link` (trace.proto). */
export const SpanLink = {
  /** bytes (16). */
  trace_id: 1,
  /** bytes (8). */
  span_id: 2,
  /** string. */
  trace_state: 3,
  /** repeated KeyValue. */
  attributes: 4,
  /** uint32. */
  dropped_attributes_count: 5,
  /** fixed32. */
  flags: 6,
} as const;

/** `Status` (trace.proto). */
export const Status = {
  /** string. */
  message: 2,
  /** StatusCode (int32 enum). */
  code: 3,
} as const;

/** `LogRecord` (logs.proto). */
export const LogRecord = {
  /** fixed64, Unix ns. */
  time_unix_nano: 1,
  /** fixed64, Unix ns. */
  observed_time_unix_nano: 11,
  /** SeverityNumber (int32 enum). */
  severity_number: 2,
  /** string. */
  severity_text: 3,
  /** AnyValue. */
  body: 5,
  /** repeated KeyValue. */
  attributes: 6,
  /** uint32. */
  dropped_attributes_count: 7,
  /** fixed32. */
  flags: 8,
  /** bytes (16). */
  trace_id: 9,
  /** bytes (8). */
  span_id: 10,
  /** string. */
  event_name: 12,
} as const;

/** `Metric` (metrics.proto): oneof data = gauge, sum, histogram, exponential_histogram, summary. */
export const Metric = {
  /** string. */
  name: 1,
  /** string. */
  description: 2,
  /** string. */
  unit: 3,
  /** Gauge. */
  gauge: 5,
  /** Sum. */
  sum: 7,
  /** Histogram. */
  histogram: 9,
  /** ExponentialHistogram. */
  exponential_histogram: 10,
  /** Summary. */
  summary: 11,
} as const;

/** `Gauge` (metrics.proto). */
export const Gauge = {
  /** repeated NumberDataPoint. */
  data_points: 1,
} as const;

/** `Sum` (metrics.proto). */
export const Sum = {
  /** repeated NumberDataPoint. */
  data_points: 1,
  /** AggregationTemporality (int32 enum). */
  aggregation_temporality: 2,
  /** bool. */
  is_monotonic: 3,
} as const;

/** `Histogram` (metrics.proto). */
export const Histogram = {
  /** repeated HistogramDataPoint. */
  data_points: 1,
  /** AggregationTemporality (int32 enum). */
  aggregation_temporality: 2,
} as const;

/** `ExponentialHistogram` (metrics.proto). */
export const ExponentialHistogram = {
  /** repeated ExponentialHistogramDataPoint. */
  data_points: 1,
  /** AggregationTemporality (int32 enum). */
  aggregation_temporality: 2,
} as const;

/** `Summary` (metrics.proto). */
export const Summary = {
  /** repeated SummaryDataPoint. */
  data_points: 1,
} as const;

/** `NumberDataPoint` (metrics.proto): oneof value = as_double, as_int. */
export const NumberDataPoint = {
  /** repeated KeyValue. */
  attributes: 7,
  /** fixed64, Unix ns. */
  start_time_unix_nano: 2,
  /** fixed64, Unix ns. */
  time_unix_nano: 3,
  /** double. */
  as_double: 4,
  /** sfixed64. */
  as_int: 6,
  /** fixed32. */
  flags: 8,
} as const;

/** `HistogramDataPoint` (metrics.proto). */
export const HistogramDataPoint = {
  /** repeated KeyValue. */
  attributes: 9,
  /** fixed64, Unix ns. */
  start_time_unix_nano: 2,
  /** fixed64, Unix ns. */
  time_unix_nano: 3,
  /** fixed64. */
  count: 4,
  /** optional double. */
  sum: 5,
  /** repeated fixed64 (packed). */
  bucket_counts: 6,
  /** repeated double (packed). */
  explicit_bounds: 7,
  /** fixed32. */
  flags: 10,
  /** optional double. */
  min: 11,
  /** optional double. */
  max: 12,
} as const;

/** `ExponentialHistogramDataPoint` (metrics.proto; its `positive`/`negative` buckets are not read). */
export const ExponentialHistogramDataPoint = {
  /** repeated KeyValue. */
  attributes: 1,
  /** fixed64, Unix ns. */
  start_time_unix_nano: 2,
  /** fixed64, Unix ns. */
  time_unix_nano: 3,
  /** fixed64. */
  count: 4,
  /** optional double. */
  sum: 5,
  /** sint32. */
  scale: 6,
  /** fixed64. */
  zero_count: 7,
  /** fixed32. */
  flags: 10,
  /** optional double. */
  min: 12,
  /** optional double. */
  max: 13,
} as const;

/** `SummaryDataPoint` (metrics.proto). */
export const SummaryDataPoint = {
  /** repeated KeyValue. */
  attributes: 7,
  /** fixed64, Unix ns. */
  start_time_unix_nano: 2,
  /** fixed64, Unix ns. */
  time_unix_nano: 3,
  /** fixed64. */
  count: 4,
  /** double. */
  sum: 5,
  /** repeated SummaryDataPoint.ValueAtQuantile. */
  quantile_values: 6,
  /** fixed32. */
  flags: 8,
} as const;

/** `SummaryDataPoint.ValueAtQuantile` (metrics.proto). */
export const ValueAtQuantile = {
  /** double. */
  quantile: 1,
  /** double. */
  value: 2,
} as const;

/** `Export{Trace,Logs,Metrics}ServiceResponse`: the same number for the three. */
export const ExportServiceResponse = {
  /** Export{Trace,Logs,Metrics}PartialSuccess. */
  partial_success: 1,
} as const;

/** `Export{Trace,Logs,Metrics}PartialSuccess`: the same numbers for the three. */
export const ExportPartialSuccess = {
  /** int64 `rejected_spans`, `rejected_log_records` or `rejected_data_points`. */
  rejected: 1,
  /** string. */
  error_message: 2,
} as const;

/** `google.rpc.Status` (googleapis google/rpc/status.proto): the body of an OTLP/HTTP error. */
export const RpcStatus = {
  /** int32: a gRPC code. */
  code: 1,
  /** string. */
  message: 2,
} as const;
