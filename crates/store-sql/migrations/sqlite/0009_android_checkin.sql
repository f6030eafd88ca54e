-- The Android channel: Android's Device Lock Controller checks in over gRPC. SQLite
-- flavour; keep in step with ../postgres/0009_android_checkin.sql. Conventions as in 0001.

-- A lender's settings for its phones (AndroidSettings as JSON) and the hash of the key its
-- phones present.
CREATE TABLE android_settings (
    lender_id  TEXT    NOT NULL PRIMARY KEY REFERENCES lenders (id),
    settings   TEXT    NOT NULL,
    key_hash   BLOB    UNIQUE, -- SHA-256 of the check-in key; NULL until one is issued
    updated_at INTEGER NOT NULL
) STRICT;

-- One phone's state with the Device Lock Controller.
CREATE TABLE android_devices (
    device_id             TEXT    NOT NULL PRIMARY KEY,
    lender_id             TEXT    NOT NULL,
    config                TEXT    NOT NULL, -- AndroidDeviceConfig as JSON
    provision_state       TEXT    NOT NULL, -- ProvisionState's name
    failing_since         INTEGER,
    last_checkin_at       INTEGER,
    paused_at             INTEGER,
    fcm_token             TEXT,
    registered_identifier TEXT,
    program_complete_at   INTEGER,
    updated_at            INTEGER NOT NULL,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
) STRICT;

-- Phones that name themselves by serial number.
CREATE INDEX devices_serial ON devices (serial) WHERE serial IS NOT NULL;
