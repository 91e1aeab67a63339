//! The statements `init` runs through the local `psql` (as the `postgres` superuser) to give
//! FlowSync its own PostgreSQL role and database. `name` is FlowSync's chosen identifier
//! (letters, digits and `_`, checked by `init`); the password is quoted here.

/// Creates the login role `name` with `password`, or sets the password of an existing one.
pub fn upsert_role(name: &str, password: &str) -> String {
    let quoted = password.replace('\'', "''");
    format!(
        "DO $$ BEGIN\n  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN\n    ALTER ROLE \"{name}\" LOGIN PASSWORD '{quoted}';\n  ELSE\n    CREATE ROLE \"{name}\" LOGIN PASSWORD '{quoted}';\n  END IF;\nEND $$;\n"
    )
}

/// Prints `1` when the database `name` exists.
pub fn database_exists(name: &str) -> String {
    format!("SELECT 1 FROM pg_database WHERE datname = '{name}';\n")
}

/// Creates the database `name`, owned by the role of the same name.
pub fn create_database(name: &str) -> String {
    format!("CREATE DATABASE \"{name}\" OWNER \"{name}\";\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_with_a_quote_stays_one_literal() {
        let sql = upsert_role("flowsync", "it's");
        assert!(sql.contains("PASSWORD 'it''s'"), "{sql}");
        assert!(!sql.contains("'it's'"));
    }
}
