//! JSON encoding of simulated events in eventsim's two dialects, written by hand
//! into a reused buffer (no per-event allocation; strings escaped by serde_json).

use super::catalog::{Location, Song};

/// User fields, present when the auth state shows details.
pub struct UserFields<'a> {
    pub user_id: i64,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub gender: &'a str,
    pub registration_ms: i64,
}

/// One simulated event, borrowed from the simulator's state.
pub struct SimEvent<'a> {
    pub ts_ms: i64,
    pub session_id: i64,
    pub page: &'a str,
    pub auth: &'a str,
    pub method: &'a str,
    pub status: i32,
    pub level: &'a str,
    pub item_in_session: i32,
    pub location: &'a Location,
    pub user_agent: &'a str,
    pub user: Option<UserFields<'a>>,
    pub song: Option<&'a Song>,
    pub tag: Option<&'a str>,
}

fn s(buf: &mut Vec<u8>, v: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, v);
}

fn key(buf: &mut Vec<u8>, k: &str) {
    buf.push(b'"');
    buf.extend_from_slice(k.as_bytes());
    buf.extend_from_slice(b"\":");
}

fn int(buf: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b.format(v).as_bytes());
}

fn float(buf: &mut Vec<u8>, v: f64) {
    let mut b = ryu::Buffer::new();
    buf.extend_from_slice(b.format(v).as_bytes());
}

fn device(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    key(buf, "city");
    s(buf, &e.location.city);
    buf.push(b',');
    key(buf, "zip");
    s(buf, &e.location.zip);
    buf.push(b',');
    key(buf, "state");
    s(buf, &e.location.state);
    buf.push(b',');
    key(buf, "userAgent");
    s(buf, e.user_agent);
    buf.push(b',');
    key(buf, "lon");
    float(buf, e.location.lon);
    buf.push(b',');
    key(buf, "lat");
    float(buf, e.location.lat);
}

fn user(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    if let Some(u) = &e.user {
        buf.push(b',');
        key(buf, "userId");
        int(buf, u.user_id);
        buf.push(b',');
        key(buf, "lastName");
        s(buf, u.last_name);
        buf.push(b',');
        key(buf, "firstName");
        s(buf, u.first_name);
        buf.push(b',');
        key(buf, "gender");
        s(buf, u.gender);
        buf.push(b',');
        key(buf, "registration");
        int(buf, u.registration_ms);
    }
}

fn tag(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    if let Some(t) = e.tag {
        buf.push(b',');
        key(buf, "tag");
        s(buf, t);
    }
}

fn head(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    key(buf, "ts");
    int(buf, e.ts_ms);
    buf.push(b',');
    key(buf, "sessionId");
    int(buf, e.session_id);
}

/// `page_view_events`: every event.
pub fn page_view(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    buf.push(b'{');
    head(buf, e);
    buf.push(b',');
    key(buf, "page");
    s(buf, e.page);
    buf.push(b',');
    key(buf, "auth");
    s(buf, e.auth);
    buf.push(b',');
    key(buf, "method");
    s(buf, e.method);
    buf.push(b',');
    key(buf, "status");
    int(buf, e.status as i64);
    buf.push(b',');
    key(buf, "level");
    s(buf, e.level);
    buf.push(b',');
    key(buf, "itemInSession");
    int(buf, e.item_in_session as i64);
    buf.push(b',');
    device(buf, e);
    user(buf, e);
    if let Some(song) = e.song {
        buf.push(b',');
        key(buf, "artist");
        s(buf, &song.artist);
        buf.push(b',');
        key(buf, "song");
        s(buf, &song.title);
        buf.push(b',');
        key(buf, "duration");
        float(buf, song.duration);
    }
    tag(buf, e);
    buf.push(b'}');
}

/// `listen_events`: NextSong pages.
pub fn listen(buf: &mut Vec<u8>, e: &SimEvent<'_>, song: &Song) {
    buf.push(b'{');
    key(buf, "artist");
    s(buf, &song.artist);
    buf.push(b',');
    key(buf, "song");
    s(buf, &song.title);
    buf.push(b',');
    key(buf, "duration");
    float(buf, song.duration);
    buf.push(b',');
    head(buf, e);
    buf.push(b',');
    key(buf, "auth");
    s(buf, e.auth);
    buf.push(b',');
    key(buf, "level");
    s(buf, e.level);
    buf.push(b',');
    key(buf, "itemInSession");
    int(buf, e.item_in_session as i64);
    buf.push(b',');
    device(buf, e);
    user(buf, e);
    tag(buf, e);
    buf.push(b'}');
}

/// `auth_events`: the event right after a Login page; no `auth` field.
pub fn auth(buf: &mut Vec<u8>, e: &SimEvent<'_>, success: bool) {
    buf.push(b'{');
    head(buf, e);
    buf.push(b',');
    key(buf, "level");
    s(buf, e.level);
    buf.push(b',');
    key(buf, "itemInSession");
    int(buf, e.item_in_session as i64);
    buf.push(b',');
    device(buf, e);
    user(buf, e);
    buf.push(b',');
    key(buf, "success");
    buf.extend_from_slice(if success { b"true" } else { b"false" });
    tag(buf, e);
    buf.push(b'}');
}

/// `status_change_events`: Submit Upgrade / Submit Downgrade; `level` is the level
/// before the change.
pub fn status_change(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    buf.push(b'{');
    head(buf, e);
    buf.push(b',');
    key(buf, "auth");
    s(buf, e.auth);
    buf.push(b',');
    key(buf, "level");
    s(buf, e.level);
    buf.push(b',');
    key(buf, "itemInSession");
    int(buf, e.item_in_session as i64);
    buf.push(b',');
    device(buf, e);
    user(buf, e);
    tag(buf, e);
    buf.push(b'}');
}

/// The single-stream dialect: 18 keys in sorted order, nulls where hidden,
/// `length`, `location` ("City, ST"), `userId` a string, `registration` a float.
pub fn single(buf: &mut Vec<u8>, e: &SimEvent<'_>) {
    let u = e.user.as_ref();
    buf.push(b'{');
    key(buf, "artist");
    match e.song {
        Some(x) => s(buf, &x.artist),
        None => buf.extend_from_slice(b"null"),
    }
    buf.push(b',');
    key(buf, "auth");
    s(buf, e.auth);
    buf.push(b',');
    key(buf, "firstName");
    opt_str(buf, u.map(|u| u.first_name));
    buf.push(b',');
    key(buf, "gender");
    opt_str(buf, u.map(|u| u.gender));
    buf.push(b',');
    key(buf, "itemInSession");
    int(buf, e.item_in_session as i64);
    buf.push(b',');
    key(buf, "lastName");
    opt_str(buf, u.map(|u| u.last_name));
    buf.push(b',');
    key(buf, "length");
    match e.song {
        Some(x) => float(buf, x.duration),
        None => buf.extend_from_slice(b"null"),
    }
    buf.push(b',');
    key(buf, "level");
    s(buf, e.level);
    buf.push(b',');
    key(buf, "location");
    if u.is_some() {
        // "City, ST": the city escaped, its closing quote replaced by the state.
        s(buf, &e.location.city);
        buf.pop();
        buf.extend_from_slice(b", ");
        if e.location.state.bytes().all(|b| b.is_ascii_alphanumeric()) {
            buf.extend_from_slice(e.location.state.as_bytes());
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(b"null");
    }
    buf.push(b',');
    key(buf, "method");
    s(buf, e.method);
    buf.push(b',');
    key(buf, "page");
    s(buf, e.page);
    buf.push(b',');
    key(buf, "registration");
    match u {
        Some(u) => {
            int(buf, u.registration_ms);
            buf.extend_from_slice(b".0");
        }
        None => buf.extend_from_slice(b"null"),
    }
    buf.push(b',');
    key(buf, "sessionId");
    int(buf, e.session_id);
    buf.push(b',');
    key(buf, "song");
    match e.song {
        Some(x) => s(buf, &x.title),
        None => buf.extend_from_slice(b"null"),
    }
    buf.push(b',');
    key(buf, "status");
    int(buf, e.status as i64);
    buf.push(b',');
    key(buf, "ts");
    int(buf, e.ts_ms);
    buf.push(b',');
    key(buf, "userAgent");
    if u.is_some() {
        s(buf, e.user_agent);
    } else {
        buf.extend_from_slice(b"null");
    }
    buf.push(b',');
    key(buf, "userId");
    match u {
        Some(u) => {
            buf.push(b'"');
            int(buf, u.user_id);
            buf.push(b'"');
        }
        None => buf.extend_from_slice(b"\"\""),
    }
    tag(buf, e);
    buf.push(b'}');
}

fn opt_str(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(v) => s(buf, v),
        None => buf.extend_from_slice(b"null"),
    }
}
