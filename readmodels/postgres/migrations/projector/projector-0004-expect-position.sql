-- depends: projector-0003-rebuild-requests
-- A page's first round trip checks (and locks) the position it was read from, inside the BEGIN
-- it is sent with: SQLSTATE SC409 "position-moved N" when the stored position is N, not the
-- expected one (a rebuild switched in, or another process applied it), before any row is
-- written. The first page ever makes the row, at 0.
CREATE OR REPLACE FUNCTION expect_position(target_schema text, target_stream text, expected bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stored bigint;
BEGIN
    EXECUTE format('SELECT position FROM %I.projection_position WHERE stream = $1 FOR UPDATE',
                   target_schema) INTO stored USING target_stream;
    IF stored IS NULL THEN
        EXECUTE format('INSERT INTO %I.projection_position (stream, position) VALUES ($1, 0)'
                       ' ON CONFLICT DO NOTHING', target_schema) USING target_stream;
        EXECUTE format('SELECT position FROM %I.projection_position WHERE stream = $1 FOR UPDATE',
                       target_schema) INTO stored USING target_stream;
    END IF;
    IF stored <> expected THEN
        RAISE EXCEPTION 'position-moved %', stored USING ERRCODE = 'SC409';
    END IF;
END
$$;
