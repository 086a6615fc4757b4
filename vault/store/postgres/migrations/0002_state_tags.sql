-- Version 2: vaults keep a state tag.
--
-- No table changes. From this version on, every vaultd keeps, in the same
-- transaction as each change of a vault, a random tag in the vault's rows
-- (kv key m/state, written by package vault), and answers consented reads
-- from memory while the tag it remembered is unchanged. An older vaultd
-- changes vaults without changing the tag, so the vaultds sharing a
-- schema must all be of this version or newer: recording this version
-- makes an older vaultd refuse to start on the schema. Stop every older
-- vaultd before starting this one.

COMMENT ON TABLE kv IS 'Vault keys and values (sealed). Since schema version 2 each vault keeps a state tag (key m/state) that every writer must replace with its changes: vaultd before version 2 must not write here.';
