/*
 * sr_frame: Confluent's wire format around an Avro body: byte 0x00, the
 * schema id as 4 bytes big-endian, then the Avro binary encoding of one
 * value (av_serde).  Every producer and consumer of the mesh frames keys
 * and values this way, so any Confluent or Karapace client reads our topics
 * and we read theirs.  Checks never read past the input.
 */
#include "sr_frame.h"

int sr_frame_parse(const void *data, size_t len, uint32_t *id,
                   const uint8_t **body, size_t *body_len, mw_err_t *err)
{
    const uint8_t *p = data;
    if (len < SR_FRAME_HEADER_LEN || !p)
        return mw_err_set(err, MW_ERR_INVALID,
                          "truncated header: %zu bytes, "
                          "a Confluent header needs %d",
                          len, SR_FRAME_HEADER_LEN);
    if (p[0] != 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "bad magic byte 0x%02x "
                          "(expected 0x00): not Confluent-framed Avro",
                          p[0]);
    if (id)
        *id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
              (uint32_t)p[3] << 8 | p[4];
    if (body)
        *body = p + SR_FRAME_HEADER_LEN;
    if (body_len)
        *body_len = len - SR_FRAME_HEADER_LEN;
    return 0;
}

int sr_frame_write(mw_buf_t *out, uint32_t id, mw_err_t *err)
{
    uint8_t h[SR_FRAME_HEADER_LEN] = {0, (uint8_t)(id >> 24),
                                      (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                                      (uint8_t)id};
    int rc = mw_buf_append(out, h, sizeof(h));
    if (rc != 0)
        return mw_err_set(err, rc, "cannot append the Confluent header: %s",
                          mw_err_name(rc));
    return 0;
}

int sr_frame_encode(const av_serde_plan_t *plan, uint32_t id,
                    const json_t *value, mw_buf_t *out, mw_err_t *err)
{
    int rc = sr_frame_write(out, id, err);
    return rc ? rc : av_serde_json_to_avro(plan, value, out, err);
}

int sr_frame_decode(const av_serde_plan_t *plan, const void *data, size_t len,
                    uint32_t *id, json_t **out, mw_err_t *err)
{
    const uint8_t *body = NULL;
    size_t body_len = 0;
    if (out)
        *out = NULL;
    int rc = sr_frame_parse(data, len, id, &body, &body_len, err);
    return rc ? rc : av_serde_avro_to_json(plan, body, body_len, out, err);
}
