-- A check-in's view of a phone (`sql::CHECKIN_VIEW`) reads its device row and, beside it,
-- its pending commands, its undelivered notices and its highest unlock code. A SQLite node
-- keeps those views in memory (`sqlite_views`) and drops one when SQLite's update hook
-- names a change to its `devices` row. These triggers make every change to a phone's
-- commands, notices and unlock codes touch its `devices` row (a write of the row as it is:
-- no column changes, its version included), so that the hook names those too.

CREATE TRIGGER commands_touch_device_insert AFTER INSERT ON commands
BEGIN UPDATE devices SET version = version WHERE id = NEW.device_id; END;
CREATE TRIGGER commands_touch_device_update AFTER UPDATE ON commands
BEGIN UPDATE devices SET version = version WHERE id IN (OLD.device_id, NEW.device_id); END;
CREATE TRIGGER commands_touch_device_delete AFTER DELETE ON commands
BEGIN UPDATE devices SET version = version WHERE id = OLD.device_id; END;

CREATE TRIGGER notices_touch_device_insert AFTER INSERT ON notices
BEGIN UPDATE devices SET version = version WHERE id = NEW.device_id; END;
CREATE TRIGGER notices_touch_device_update AFTER UPDATE ON notices
BEGIN UPDATE devices SET version = version WHERE id IN (OLD.device_id, NEW.device_id); END;
CREATE TRIGGER notices_touch_device_delete AFTER DELETE ON notices
BEGIN UPDATE devices SET version = version WHERE id = OLD.device_id; END;

CREATE TRIGGER unlock_codes_touch_device_insert AFTER INSERT ON unlock_codes
BEGIN UPDATE devices SET version = version WHERE id = NEW.device_id; END;
CREATE TRIGGER unlock_codes_touch_device_update AFTER UPDATE ON unlock_codes
BEGIN UPDATE devices SET version = version WHERE id IN (OLD.device_id, NEW.device_id); END;
CREATE TRIGGER unlock_codes_touch_device_delete AFTER DELETE ON unlock_codes
BEGIN UPDATE devices SET version = version WHERE id = OLD.device_id; END;
