-- Version 1: the tables of a vrmvault host.
--
-- Every table is keyed by the vault id first, and the vault id is its
-- distribution column on Citus (see the README, "Operations"), so that all
-- rows of one vault live on one shard and every vault transaction is a
-- single-shard transaction. Foreign keys and primary keys include the vault
-- id, as Citus requires of co-located distributed tables.
--
-- The vault id is "C"-collated text: ids are ASCII ([A-Za-z0-9_-], checked
-- below and in Go), and byte order is the order ListVaults promises.

CREATE TABLE vaults (
    vault      text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    -- The sequence number of the vault's latest change row. Every writer of
    -- the vault locks this row first (SELECT ... FOR NO KEY UPDATE), so the
    -- writers of one vault are serialized and sequence numbers are
    -- gapless, unique and in commit order.
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    PRIMARY KEY (vault),
    CONSTRAINT vaults_vault_id CHECK (vault ~ '^[A-Za-z0-9_-]{1,64}$')
) WITH (fillfactor = 70); -- room for HOT updates of last_seq

CREATE TABLE kv (
    vault      text COLLATE "C" NOT NULL,
    key        bytea NOT NULL CHECK (length(key) BETWEEN 1 AND 1024),
    value      bytea NOT NULL,
    -- NULL: no TTL. Otherwise the row reads as absent from this instant on
    -- (compared with the store's injected clock, not now()), and the
    -- cleanup loop deletes it some time later.
    expires_at timestamptz,
    PRIMARY KEY (vault, key),
    FOREIGN KEY (vault) REFERENCES vaults (vault)
);
CREATE INDEX kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;

-- The change feed: a transactional outbox, written in the same transaction
-- as the data it describes.
CREATE TABLE changes (
    vault text COLLATE "C" NOT NULL,
    seq   bigint NOT NULL CHECK (seq > 0),
    time  timestamptz NOT NULL,
    data  bytea NOT NULL,
    PRIMARY KEY (vault, seq),
    FOREIGN KEY (vault) REFERENCES vaults (vault)
);

-- Values are sealed (AES-GCM) by package vault: ciphertext does not
-- compress, so large values are stored out of line without trying.
ALTER TABLE kv ALTER COLUMN value SET STORAGE EXTERNAL;
ALTER TABLE changes ALTER COLUMN data SET STORAGE EXTERNAL;
