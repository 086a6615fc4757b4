package postgres

import (
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// Redact returns a description of the database a DSN names, for logs and
// messages: postgres://user@host:port/database, with the search_path if
// the DSN sets one. It never contains the password, whatever the DSN's
// form; a DSN that does not parse is described as such.
func Redact(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "postgres://(unparsable DSN)"
	}
	return describe(cfg)
}

// describe names the database of cfg without its password.
func describe(cfg *pgconn.Config) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.User(cfg.User),
		Host:   cfg.Host + ":" + strconv.Itoa(int(cfg.Port)),
		Path:   "/" + cfg.Database,
	}
	if cfg.Host == "" || cfg.Host[0] == '/' {
		// A Unix socket directory: not a URL host.
		u.Host = ""
		q := url.Values{"host": {cfg.Host}, "port": {strconv.Itoa(int(cfg.Port))}}
		u.RawQuery = q.Encode()
	}
	if sp, ok := cfg.RuntimeParams["search_path"]; ok {
		q := u.Query()
		q.Set("search_path", sp)
		u.RawQuery = q.Encode()
	}
	return u.String()
}
