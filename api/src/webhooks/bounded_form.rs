//! Reading a large form (an inbound email forward) without holding it: the
//! body is consumed as a stream, only the fields we keep are collected, each
//! up to its own cap, and everything else — HTML bodies, attachments,
//! unknown fields — is read past and dropped. What one request can make us
//! hold is the sum of the caps, whatever its size on the wire.

use axum::body::Body;
use futures::{Stream, StreamExt, TryStreamExt};
use percent_encoding::percent_decode;

use super::form::{Form, no_nul};
use crate::ApiError;

/// How much of a field to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Text: keep its first this many characters.
    Cut(usize),
    /// A value that means something only whole (a signature, an address):
    /// refuse the request if it is longer than this many characters.
    Whole(usize),
}

impl Kept {
    fn chars(self) -> usize {
        match self {
            Kept::Cut(n) | Kept::Whole(n) => n,
        }
    }
}

/// The fields to keep (by name) and how.
pub type Keep = fn(&str) -> Option<Kept>;

/// Longest field name kept; longer names are not ours and are skipped.
const MAX_NAME: usize = 128;
/// Fields kept at most (repeated names count); the rest are skipped.
const MAX_FIELDS: usize = 64;

/// Upper bound on the bytes [`read`] holds for one request under `keep`
/// with the given fields: percent-encoding triples a byte and a character
/// takes up to four.
pub fn max_held(caps: &[usize]) -> usize {
    caps.iter().map(|c| c * 4 * 3).sum::<usize>() + MAX_FIELDS * MAX_NAME
}

/// What [`read`] kept.
pub struct Read {
    pub form: Form,
    /// Names of the kept fields that were cut at their cap.
    pub cut: Vec<String>,
}

/// Reads a `application/x-www-form-urlencoded` or `multipart/form-data`
/// body, keeping only what `keep` names.
pub async fn read(content_type: &str, body: Body, keep: Keep) -> Result<Read, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    match media.as_str() {
        "application/x-www-form-urlencoded" => urlencoded(stream, keep).await,
        "multipart/form-data" => multipart(content_type, stream, keep).await,
        _ => Err(ApiError::UnsupportedMediaType("application/x-www-form-urlencoded or multipart/form-data")),
    }
}

async fn urlencoded<S, B>(mut stream: S, keep: Keep) -> Result<Read, ApiError>
where
    S: Stream<Item = Result<B, std::io::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut read = Read { form: Form::default(), cut: Vec::new() };
    let mut pair = Pair::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest("the request body was cut off".into()))?;
        // Jumps from delimiter to delimiter (memchr), so reading past a
        // dropped megabyte costs a scan, not a loop over its bytes.
        let mut rest = chunk.as_ref();
        while !rest.is_empty() {
            let found = if pair.in_value { memchr::memchr(b'&', rest) } else { memchr::memchr2(b'=', b'&', rest) };
            let Some(at) = found else {
                pair.extend(rest, keep);
                break;
            };
            pair.extend(&rest[..at], keep);
            match rest[at] {
                b'=' => pair.in_value = true,
                _ => pair.finish(keep, &mut read)?,
            }
            rest = &rest[at + 1..];
        }
    }
    pair.finish(keep, &mut read)?;
    Ok(read)
}

/// One `name=value` pair being read: the raw (still encoded) name, and the
/// raw value only while it is a kept field under its cap.
#[derive(Default)]
struct Pair {
    name: Vec<u8>,
    value: Vec<u8>,
    in_value: bool,
    /// The raw value's byte budget, decided when the value starts.
    budget: Option<Option<usize>>,
    /// Bytes of the value were dropped at the budget.
    cut: bool,
}

impl Pair {
    /// Appends bytes of the name or, for a kept field, of the value up to
    /// its budget (a name past `MAX_NAME` is not ours; it is only marked).
    fn extend(&mut self, bytes: &[u8], keep: Keep) {
        if bytes.is_empty() {
            return;
        }
        if !self.in_value {
            let room = (MAX_NAME + 1).saturating_sub(self.name.len());
            self.name.extend_from_slice(&bytes[..bytes.len().min(room)]);
            return;
        }
        let budget = *self.budget.get_or_insert_with(|| {
            let name = decode(&self.name).ok()?;
            keep(&name).map(|kept| kept.chars() * 4 * 3)
        });
        if let Some(max) = budget {
            let room = max.saturating_sub(self.value.len());
            self.cut |= bytes.len() > room;
            self.value.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn finish(&mut self, keep: Keep, read: &mut Read) -> Result<(), ApiError> {
        let pair = std::mem::take(self);
        if pair.name.is_empty() || pair.name.len() > MAX_NAME || read.form.0.len() >= MAX_FIELDS {
            return Ok(());
        }
        let name = decode(&pair.name)?;
        let Some(kept) = keep(&name) else { return Ok(()) };
        let plus_as_space: Vec<u8> = pair.value.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
        read.keep(name, &bytes, pair.cut, kept)
    }
}

fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let text = percent_decode(&plus_as_space)
        .decode_utf8()
        .map_err(|_| ApiError::BadRequest("form field is not valid UTF-8".into()))?;
    no_nul(&text)?;
    Ok(text.into_owned())
}

impl Read {
    fn keep(&mut self, name: String, bytes: &[u8], cut: bool, kept: Kept) -> Result<(), ApiError> {
        let (value, shortened) = keep_text(&name, bytes, cut, kept)?;
        if shortened {
            self.cut.push(name.clone());
        }
        self.form.0.push((name, value));
        Ok(())
    }
}

/// What is kept of one field's (decoded) bytes. `cut` says we stopped
/// reading it at its budget, so a partial character at the end is ours and
/// dropped; anywhere else, invalid UTF-8 is the sender's and refused, as
/// is a whole-only value over its length.
fn keep_text(name: &str, bytes: &[u8], cut: bool, kept: Kept) -> Result<(String, bool), ApiError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid prefix")
        }
        Err(_) => return Err(ApiError::BadRequest(format!("field {name} is not valid UTF-8"))),
    };
    let (value, shortened) = frontdesk_domain::inbound_text::cap(text, kept.chars());
    if let (Kept::Whole(max), true) = (kept, shortened || cut) {
        return Err(ApiError::BadRequest(format!("field {name} is longer than {max} characters")));
    }
    no_nul(value)?;
    Ok((value.to_owned(), shortened || cut))
}

async fn multipart<S, B>(content_type: &str, stream: S, keep: Keep) -> Result<Read, ApiError>
where
    S: Stream<Item = Result<B, std::io::Error>> + Send + 'static,
    B: Into<bytes::Bytes> + 'static,
{
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError::BadRequest("multipart body without boundary".into()))?;
    let mut multipart = multer::Multipart::new(stream.map_ok(Into::into), boundary);
    let malformed = |e: multer::Error| ApiError::BadRequest(format!("malformed multipart body: {e}"));
    let mut read = Read { form: Form::default(), cut: Vec::new() };
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        // Attachments are never kept: read past them chunk by chunk.
        let kept = match (field.file_name(), field.name()) {
            (None, Some(name)) if read.form.0.len() < MAX_FIELDS => keep(name),
            _ => None,
        };
        let Some(kept) = kept else {
            while field.chunk().await.map_err(malformed)?.is_some() {}
            continue;
        };
        let name = field.name().unwrap_or_default().to_owned();
        let max_bytes = kept.chars() * 4;
        let (mut bytes, mut cut) = (Vec::new(), false);
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            let room = max_bytes.saturating_sub(bytes.len());
            cut |= chunk.len() > room;
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        read.keep(name, &bytes, cut, kept)?;
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(name: &str) -> Option<Kept> {
        match name {
            "short" => Some(Kept::Cut(3)),
            "body" => Some(Kept::Cut(10)),
            "token" => Some(Kept::Whole(4)),
            _ => None,
        }
    }

    async fn parse(chunks: Vec<&'static [u8]>) -> Result<Form, ApiError> {
        Ok(read_all(chunks).await?.form)
    }

    async fn read_all(chunks: Vec<&'static [u8]>) -> Result<Read, ApiError> {
        urlencoded(futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)), keep).await
    }

    #[tokio::test]
    async fn only_kept_fields_are_read_each_up_to_its_cap_across_chunk_boundaries() {
        let form = parse(vec![b"body=Hel", b"lo+world%21%21&html=<p>drop", b"ped</p>&short=%C2%A1ol%C3%A9&short=x"])
            .await
            .unwrap();
        assert_eq!(form.get("body"), Some("Hello worl"));
        assert_eq!(form.get("html"), None);
        assert_eq!(
            form.0.iter().filter(|(k, _)| k == "short").map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
            ["¡ol", "x"]
        );
    }

    #[tokio::test]
    async fn a_huge_dropped_field_costs_nothing_and_a_huge_kept_one_costs_its_cap() {
        let huge: &'static [u8] = Box::leak(vec![b'a'; 5 << 20].into_boxed_slice());
        let read = read_all(vec![b"html=", huge, b"&body=", huge, b"&short=ok"]).await.unwrap();
        assert_eq!(read.form.get("body").map(str::len), Some(10));
        assert_eq!(read.form.get("html"), None);
        assert_eq!(read.cut, ["body"], "a cut field says so");
    }

    #[tokio::test]
    async fn invalid_utf8_and_nul_are_refused() {
        assert!(parse(vec![b"body=%FF%FE"]).await.is_err());
        assert!(parse(vec![b"body=caf%E9"]).await.is_err(), "a partial character the sender cut");
        assert!(parse(vec![b"body=a%00b"]).await.is_err());
        // A dropped field is never decoded, so its bytes cannot fail the request.
        assert!(parse(vec![b"html=%FF&body=ok"]).await.is_ok());
    }

    #[tokio::test]
    async fn a_whole_only_value_over_its_length_is_refused_not_cut() {
        assert_eq!(parse(vec![b"token=abcd"]).await.unwrap().get("token"), Some("abcd"));
        assert!(parse(vec![b"token=abcde"]).await.is_err());
        assert!(parse(vec![b"token=", &[b'x'; 100]]).await.is_err());
    }

    #[test]
    fn the_bound_on_held_bytes_covers_encoding_and_wide_characters() {
        assert_eq!(max_held(&[10, 3]), 13 * 12 + MAX_FIELDS * MAX_NAME);
    }
}
