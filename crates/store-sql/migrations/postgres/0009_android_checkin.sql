-- The Android channel: Android's Device Lock Controller checks in over gRPC. PostgreSQL
-- flavour; keep in step with ../sqlite/0009_android_checkin.sql. Conventions as in 0001.

-- A lender's settings for its phones (AndroidSettings as JSON) and the hash of the key its
-- phones present.
CREATE TABLE android_settings (
    lender_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES lenders (id),
    settings   TEXT   NOT NULL,
    key_hash   BYTEA  UNIQUE, -- SHA-256 of the check-in key; NULL until one is issued
    updated_at BIGINT NOT NULL
);

-- One phone's state with the Device Lock Controller.
CREATE TABLE android_devices (
    device_id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id             TEXT COLLATE "C" NOT NULL,
    config                TEXT   NOT NULL, -- AndroidDeviceConfig as JSON
    provision_state       TEXT   NOT NULL, -- ProvisionState's name
    failing_since         BIGINT,
    last_checkin_at       BIGINT,
    paused_at             BIGINT,
    fcm_token             TEXT,
    registered_identifier TEXT,
    program_complete_at   BIGINT,
    updated_at            BIGINT NOT NULL,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
);

-- Phones that name themselves by serial number.
CREATE INDEX devices_serial ON devices (serial) WHERE serial IS NOT NULL;
