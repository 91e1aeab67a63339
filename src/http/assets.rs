//! The browser app's files, embedded in the binary from `assets/` (read from disk in debug
//! builds, so editing a page needs no rebuild).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/assets"]
struct Assets;

fn serve(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    let mut res = file.data.into_owned().into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // Pages and modules are revalidated so an upgrade is picked up on the next load.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

pub async fn index() -> Response {
    serve("index.html")
}

pub async fn room(Path(_code): Path<String>) -> Response {
    serve("room.html")
}

pub async fn file(Path(path): Path<String>) -> Response {
    if path.ends_with(".html") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    serve(&path)
}
