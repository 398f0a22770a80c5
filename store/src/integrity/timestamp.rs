//! Trusted timestamps of checkpoints (RFC 3161): a time-stamping authority (TSA) signs the
//! SHA-256 of a signed checkpoint with the time it saw it, so that "this log held these events
//! no later than that time" stands on a third party's clock and key, not on the lab's.
//!
//! This module builds the request and reads the answer; the HTTP exchange is the server's
//! (`carnet-api`), and tokens are stored in `checkpoint_timestamps` (migration 0015). Carnet
//! checks that the token answers its request (status granted, the checkpoint's digest, the
//! nonce) but not the TSA's signature and certificate chain: that is for the auditor, with the
//! TSA's CA certificate, `openssl ts -verify -token_in -in TOKEN -data CHECKPOINT -CAfile CA`.
//!
//! The ASN.1 is RustCrypto's (`x509-tsp`, `cms`, `der`): no hand-written DER.

use crate::any::{AnyStore, on_pool};
use crate::arg::{Arg, BindArgs};
use crate::error::StoreError;
use chrono::{DateTime, Utc};
use der::asn1::{Int, OctetString};
use der::{Decode, Encode};

use sha2::{Digest, Sha256};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// Why a TSA's answer is not a timestamp of what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    #[error("not an RFC 3161 answer: {0}")]
    Malformed(String),
    #[error("the time-stamping authority refused: status {status}{text}")]
    Refused { status: String, text: String },
    #[error("the token does not answer the request: {0}")]
    Mismatch(&'static str),
}

fn malformed(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(e.to_string())
}

/// The DER `TimeStampReq` for `message` (its SHA-256, with `nonce`, asking for the TSA's
/// certificate in the token).
pub fn request(message: &[u8], nonce: u64) -> Result<Vec<u8>, TimestampError> {
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: imprint(message)?,
        req_policy: None,
        nonce: Some(nonce_int(nonce)?),
        cert_req: true,
        extensions: None,
    };
    request.to_der().map_err(malformed)
}

/// `nonce` (its low 63 bits: a positive INTEGER) in DER's minimal two's complement.
fn nonce_int(nonce: u64) -> Result<Int, TimestampError> {
    let bytes = (nonce & (u64::MAX >> 1)).to_be_bytes();
    let mut first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    if bytes[first] & 0x80 != 0 {
        first -= 1; // a zero byte keeps it positive (the top byte is below 0x80: never at 0)
    }
    Int::new(&bytes[first..]).map_err(malformed)
}

fn imprint(message: &[u8]) -> Result<MessageImprint, TimestampError> {
    Ok(MessageImprint {
        hash_algorithm: spki::AlgorithmIdentifier { oid: const_oid::db::rfc5912::ID_SHA_256, parameters: None },
        hashed_message: OctetString::new(Sha256::digest(message).to_vec()).map_err(malformed)?,
    })
}

/// A token that answers a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The time the TSA vouches for.
    pub gen_time: DateTime<Utc>,
    /// The `TimeStampToken` (a CMS `ContentInfo`), DER: what `openssl ts -verify -token_in` reads.
    pub token: Vec<u8>,
}

/// Reads a TSA's DER `TimeStampResp` to the request of `message` with `nonce`.
pub fn read_response(response: &[u8], message: &[u8], nonce: u64) -> Result<Stamp, TimestampError> {
    let response = TimeStampResp::from_der(response).map_err(malformed)?;
    use cmpv2::status::PkiStatus;
    if !matches!(response.status.status, PkiStatus::Accepted | PkiStatus::GrantedWithMods) {
        let text =
            response.status.status_string.iter().flatten().map(|s| format!(": {}", s.as_str())).collect::<String>();
        return Err(TimestampError::Refused { status: format!("{:?}", response.status.status), text });
    }
    let token = response.time_stamp_token.ok_or(TimestampError::Mismatch("a granted answer without a token"))?;
    let info = tst_info(&token)?;
    if info.message_imprint != imprint(message)? {
        return Err(TimestampError::Mismatch("it stamps another digest"));
    }
    if info.nonce.as_ref() != Some(&nonce_int(nonce)?) {
        return Err(TimestampError::Mismatch("another nonce"));
    }
    let gen_time = DateTime::<Utc>::from(info.gen_time.to_system_time());
    Ok(Stamp { gen_time, token: token.to_der().map_err(malformed)? })
}

/// The `encapContentInfo` of a CMS `SignedData` (its DER value): the version and the digest
/// algorithms skipped before it, nothing after it read.
fn encapsulated_content(signed_data: &[u8]) -> der::Result<cms::signed_data::EncapsulatedContentInfo> {
    use der::Reader;
    let mut reader = der::SliceReader::new(signed_data)?;
    let _version: Int = reader.decode()?;
    let _digest_algorithms: der::Any = reader.decode()?;
    reader.decode()
}

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2), which const-oid's database lacks.
const ID_CT_TST_INFO: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// The `TSTInfo` a token signs.
fn tst_info(token: &cms::content_info::ContentInfo) -> Result<TstInfo, TimestampError> {
    if token.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(TimestampError::Mismatch("the token is not CMS signed data"));
    }
    // only the encapsulated content is read: the certificates and signer infos are the
    // auditor's to check (`openssl ts -verify`), and a TSA's SET OF need not be canonical DER
    let encapsulated = encapsulated_content(token.content.value()).map_err(malformed)?;
    if encapsulated.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::Mismatch("the token does not hold a TSTInfo"));
    }
    let content = encapsulated.econtent.ok_or(TimestampError::Mismatch("the token is empty"))?;
    let octets: OctetString = content.decode_as().map_err(malformed)?;
    TstInfo::from_der(octets.as_bytes()).map_err(malformed)
}

// ---------------------------------------------------------------------------------------------
// The tokens stored

/// A token as stored: which checkpoint, which TSA, when it stamped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStamp {
    pub tree_size: u64,
    /// The TSA's URL.
    pub tsa: String,
    pub stamp: Stamp,
}

type Row = (i64, String, String, Vec<u8>);

async fn select(store: &AnyStore, condition: &str, order: &str, bound: i64) -> Result<Vec<StoredStamp>, StoreError> {
    let rows: Vec<Row> = on_pool!(store, reader pool => {
        let sql = format!(
            "select tree_size, tsa, {}, token from checkpoint_timestamps where {condition} order by {order}",
            backend::time_text("gen_time")
        );
        sqlx::query_as(&sql).bind(bound).fetch_all(pool).await?
    });
    rows.into_iter()
        .map(|(size, tsa, gen_time, token)| {
            let gen_time = DateTime::parse_from_rfc3339(&gen_time).map_err(StoreError::unexpected)?.to_utc();
            Ok(StoredStamp { tree_size: size.max(0) as u64, tsa, stamp: Stamp { gen_time, token } })
        })
        .collect()
}

/// Keeps `stamp` of the checkpoint of `tree_size`.
pub async fn store(store: &AnyStore, tree_size: u64, tsa: &str, stamp: &Stamp) -> Result<(), StoreError> {
    let sql = "insert into checkpoint_timestamps (tree_size, tsa, gen_time, token) values ($1, $2, $3, $4) \
               on conflict (tree_size, tsa) do nothing";
    let args = vec![
        Arg::Int(tree_size as i64),
        Arg::Text(tsa.to_owned()),
        Arg::Time(stamp.gen_time),
        Arg::Bytes(stamp.token.clone()),
    ];
    on_pool!(store, writer pool => sqlx::query_with(sql, backend::Db::bind_args(args)?).execute(pool).await?.rows_affected());
    Ok(())
}

/// The latest token stored, if any.
pub async fn latest(store: &AnyStore) -> Result<Option<StoredStamp>, StoreError> {
    Ok(select(store, "tree_size >= $1", "tree_size desc, gen_time desc limit 1", 0).await?.pop())
}

/// The tokens of the checkpoint of `tree_size`.
pub async fn of_size(store: &AnyStore, tree_size: u64) -> Result<Vec<StoredStamp>, StoreError> {
    select(store, "tree_size = $1", "tsa", tree_size as i64).await
}

/// Every token stored, by checkpoint size.
pub async fn all(store: &AnyStore) -> Result<Vec<StoredStamp>, StoreError> {
    select(store, "tree_size >= $1", "tree_size, tsa", 0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_asks_for_the_sha256_of_the_message_with_its_nonce_and_the_tsa_certificate() {
        let der = request(b"carnet.test/log\n1\nAAAA\n", 42).unwrap();
        let parsed = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(parsed.message_imprint.hash_algorithm.oid, const_oid::db::rfc5912::ID_SHA_256);
        assert_eq!(
            parsed.message_imprint.hashed_message.as_bytes(),
            Sha256::digest(b"carnet.test/log\n1\nAAAA\n").as_slice()
        );
        assert_eq!(parsed.nonce.unwrap().as_bytes(), &[42]);
        assert_eq!(nonce_int(0x80).unwrap().as_bytes(), &[0, 0x80], "positive, minimal");
        assert_eq!(nonce_int(u64::MAX).unwrap().as_bytes(), (u64::MAX >> 1).to_be_bytes());
        assert!(parsed.cert_req);
        assert!(read_response(b"not der", b"m", 1).is_err());
    }
}
