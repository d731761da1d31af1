-- Failed sign-ins throttled per client and per account-from-client, shared by every API
-- process (andon.runtime.throttle; docs/adr/0024-edge-login-throttling.md).
CREATE TABLE login_throttle (
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    blocked_until FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (key)
);
