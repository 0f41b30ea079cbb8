-- depends: tracking-0001-position
-- Every refused feed payload held in the quarantine, without its bytes (the quarantine keeps them).
CREATE TABLE IF NOT EXISTS held (
    seq           bigint PRIMARY KEY,
    source        text NOT NULL,
    kind          text NOT NULL,
    reason_code   text NOT NULL,
    received_at   timestamptz
);
CREATE INDEX IF NOT EXISTS held_by_reason ON held (reason_code, source);
