/*
 * bench_order: the Order record the Avro benchmarks share (av_serde_bench,
 * av_schema_mem), spelled once so their figures describe the same schema.
 * A schema is BENCH_ORDER_OPEN, an id field (its name varies), the
 * customer and amount fields, a qty field (int, or long in the evolved
 * reader), BENCH_ORDER_TAIL, then "]}" (or more fields first).
 */
#ifndef BENCH_ORDER_H
#define BENCH_ORDER_H

#define BENCH_ORDER_OPEN                                                       \
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"bench\","         \
    "\"fields\":["
#define BENCH_ORDER_MONEY                                                      \
    "{\"name\":\"customer\",\"type\":\"string\"},"                             \
    "{\"name\":\"amount\",\"type\":\"double\"},"
#define BENCH_ORDER_TAIL                                                       \
    "{\"name\":\"paid\",\"type\":\"boolean\"},"                                \
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"]},"                      \
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","    \
    "\"symbols\":[\"NEW\",\"PAID\",\"SHIPPED\"]}},"                            \
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"  \
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"    \
    "{\"name\":\"digest\",\"type\":\"bytes\"}"

#endif /* BENCH_ORDER_H */
