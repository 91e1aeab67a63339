-- TLS material shared by every instance that uses this database: the ACME account, the
-- certificate and its key, and the answers to pending ACME challenges (so whichever instance
-- the CA reaches can answer). Names: acme/account, acme/cert, acme/key,
-- challenge/http-01/<token>, challenge/tls-alpn-01/<name>.
CREATE TABLE tls_store (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
