-- Every PostgreSQL type the pg source maps to Avro, one column each, with
-- rows that reach each type's corners.  Shared by the type round-trip test
-- and by the Debezium differential benchmark, so both capture the same
-- values.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE public.alltypes (
    id          bigint PRIMARY KEY,
    c_int2      smallint,
    c_int4      integer NOT NULL,
    c_int8      bigint,
    c_num       numeric(12, 3),
    c_num_free  numeric,
    c_float4    real,
    c_float8    double precision,
    c_bool      boolean,
    c_text      text,
    c_varchar   varchar(40),
    c_char      char(4),
    c_bytea     bytea,
    c_date      date,
    c_time      time,
    c_timetz    timetz,
    c_ts        timestamp,
    c_tstz      timestamptz,
    c_interval  interval,
    c_uuid      uuid,
    c_json      json,
    c_jsonb     jsonb,
    c_enum      mood,
    c_int_arr   integer[],
    c_text_arr  text[],
    c_domain    posint
);
COMMENT ON COLUMN public.alltypes.c_text IS 'free text';
ALTER TABLE public.alltypes REPLICA IDENTITY FULL;

-- The rows: inserted after the capture started (stream) or before it
-- (snapshot); the tests insert them either way.
INSERT INTO public.alltypes VALUES
 (1, 1, 2, 3, 123456789.125, 3.14159265358979323846, 1.5, 2.25, true,
  'hello', 'varchar', 'ab', '\x00ff10'::bytea, '2024-02-29', '13:45:56.123456',
  '13:45:56.5+02', '2024-02-29 13:45:56.123456', '2024-02-29 13:45:56.123456+02',
  '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a": [1, 2]}', '{"b": {"c": null}}', 'happy', '{1,NULL,3}',
  '{"x","y z",NULL}', 7),
 (2, -32768, -2147483648, -9223372036854775808, -0.001, -12345678901234567890.5,
  -3.4e38, 1.7976931348623157e308, false, '', '', '', '\x'::bytea,
  '1970-01-01', '00:00:00', '00:00:00+00', '1970-01-01 00:00:00',
  '1970-01-01 00:00:00+00', '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000',
  '[]', '{}', 'sad', '{}', '{}', 1),
 (3, 32767, 2147483647, 9223372036854775807, 999999999.999, 0, 0, -0.0, NULL,
  E'uni\u00e9 \u2603 "q" \\ tab\t', NULL, NULL, NULL, '0001-01-01', '23:59:59.999999',
  NULL, '1899-12-31 23:59:59.5', '2262-04-11 23:47:16.854775+00', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL);
