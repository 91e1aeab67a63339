//! A team's own rooms: the host link of a standing room and the team's create link.
//!
//! A host link's key is derived from the server's link key, the room and a generation the
//! room stores (rotating bumps it), so no further secret is stored and the operator can show
//! it again. The create link (`rooms.create_policy = "link"`) is a generated server secret.
//! Both travel in a URL fragment (`#host=…`, `#create=…`): browsers never send fragments to
//! the server, so they stay out of access logs and `Referer` headers; the page moves them into
//! a request body and off the address bar.

use crate::db::Db;
use crate::db::models::RoomRow;

/// The name of the create link's secret in `server_secrets`.
const CREATE_LINK: &str = "create_link";

/// The host-link key of a room for one generation: 128 bits, URL-safe.
pub fn host_key(link_key: &[u8], room_id: &str, generation: i64) -> String {
    let mut key = crate::auth::sign(link_key, &format!("host-link\n{room_id}\n{generation}"));
    key.truncate(22);
    key
}

/// The room's current host-link key, if it has a host link (standing rooms).
pub fn current_host_key(link_key: &[u8], room: &RoomRow) -> Option<String> {
    match room.host_link_generation {
        Some(generation) if room.is_standing() => Some(host_key(link_key, &room.id, generation)),
        _ => None,
    }
}

/// Whether `given` is the room's current host-link key (constant time).
pub fn host_key_matches(link_key: &[u8], room: &RoomRow, given: &str) -> bool {
    current_host_key(link_key, room)
        .is_some_and(|want| crate::auth::constant_time_eq(want.as_bytes(), given.as_bytes()))
}

/// The path people open a room with: `/r/<slug>` for a standing room, else `/room/<code>`.
pub fn room_path(room: &RoomRow) -> String {
    match &room.slug {
        Some(slug) if room.is_standing() => format!("/r/{slug}"),
        _ => format!("/room/{}", room.code),
    }
}

/// A host link: the room's link with the key in its fragment.
pub fn host_link(base: &str, room: &RoomRow, key: &str) -> String {
    format!(
        "{}{}#host={key}",
        base.trim_end_matches('/'),
        room_path(room)
    )
}

/// The team's create link, made on first use.
pub async fn create_secret(db: &Db) -> anyhow::Result<String> {
    Ok(hex::encode(db.server_secret(CREATE_LINK).await?))
}

/// Replaces the create link: the old one stops working at once.
pub async fn rotate_create_secret(db: &Db) -> anyhow::Result<String> {
    Ok(hex::encode(db.rotate_server_secret(CREATE_LINK).await?))
}

/// Whether `given` is the team's current create-link secret (constant time). Never makes one:
/// a server whose operator has not made a create link accepts none.
pub async fn create_secret_matches(db: &Db, given: &str) -> anyhow::Result<bool> {
    Ok(match db.existing_server_secret(CREATE_LINK).await? {
        Some(secret) => {
            crate::auth::constant_time_eq(hex::encode(secret).as_bytes(), given.as_bytes())
        }
        None => false,
    })
}

/// The create link people open to be allowed to create rooms.
pub fn create_link(base: &str, secret: &str) -> String {
    format!("{}/#create={secret}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_change_with_room_generation_and_server() {
        let a = host_key(b"k1", "r_1", 1);
        assert_eq!(a.len(), 22);
        assert_eq!(a, host_key(b"k1", "r_1", 1));
        assert_ne!(a, host_key(b"k1", "r_1", 2));
        assert_ne!(a, host_key(b"k1", "r_2", 1));
        assert_ne!(a, host_key(b"k2", "r_1", 1));
    }
}
