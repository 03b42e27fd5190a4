//! The dashboard's static files, embedded in the binary from `src/web/assets/`
//! (so the binary is the whole dashboard: no CDN, no files to install), and
//! the security headers every response carries.

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

#[derive(rust_embed::RustEmbed)]
#[folder = "src/web/assets/"]
struct Assets;

/// Headers of every response: the page runs no inline script or style and
/// loads nothing from elsewhere (`default-src 'self'`), is never framed, and
/// sends no referrer.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, "default-src 'self'"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// `/` and any embedded file by its path; 404 otherwise.
pub async fn file(path: Option<web::Path<String>>) -> HttpResponse {
    let name = path
        .map(|p| p.into_inner())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "index.html".into());
    match Assets::get(&name) {
        Some(f) => HttpResponse::Ok()
            .content_type(f.metadata.mimetype())
            // Embedded files change only with the binary; revalidate cheaply.
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((
                header::ETAG,
                format!("\"{}\"", hex(&f.metadata.sha256_hash()[..8])),
            ))
            .body(f.data.into_owned()),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("no such file: /{name}\n")),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
