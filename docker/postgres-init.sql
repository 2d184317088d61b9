-- Runs once, when the postgres service's volume is empty
-- (docker-entrypoint-initdb.d): the operational table the producer
-- captures, in database shop, and the analytical database the
-- materializer writes its output port into.
CREATE TABLE public.orders (
    id bigint PRIMARY KEY,
    customer_email text NOT NULL,
    amount double precision NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE DATABASE analytics OWNER mesh;
