//! Tests of `mds.rs`.

use super::*;

pub(crate) fn seq(n: u32, docs: &[u32], weight: f32) -> Sequence {
    let mut s = Sequence::default();
    let mut at = 0;
    for d in docs {
        s.indices.push([at, at + d]);
        at += d;
    }
    s.input_ids = (0..n).map(|i| i * 7 + 70_000).collect();
    s.roles = (0..n)
        .map(|i| if i < at { (i % 8) as u8 } else { crate::shard::PAD_ROLE })
        .collect();
    s.weights = (0..n)
        .map(|i| if i < at && i % 3 != 0 { weight } else { 0.0 })
        .collect();
    s.length = at;
    s
}

#[test]
fn samples_round_trip_and_shards_respect_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let seqs: Vec<Sequence> = (0..7).map(|i| seq(64, &[10 + i, 20, 64 - 30 - i], 1.0)).collect();
    let mut w = MdsWriter::new(dir.path(), 1200, false).unwrap();
    for s in &seqs {
        w.write(s).unwrap();
    }
    let index = w.finish().unwrap();
    assert!(
        index.shards.len() > 1,
        "a 1200-byte limit splits 7 samples of ~350 bytes"
    );
    for s in &index.shards {
        assert!(
            s.raw_data.bytes <= 1200,
            "{} is {} bytes",
            s.raw_data.basename,
            s.raw_data.bytes
        );
        let on_disk = std::fs::metadata(dir.path().join(&s.raw_data.basename)).unwrap().len();
        assert_eq!(on_disk, s.raw_data.bytes);
    }
    assert_eq!(
        index.shards[0].column_names,
        ["indices", "input_ids", "length", "mask", "roles"]
    );
    let r = MdsReader::open(dir.path()).unwrap();
    assert_eq!(r.len(), 7);
    for (i, want) in seqs.iter().enumerate() {
        let got = r.sample(i as u64).unwrap();
        assert_eq!(got.input_ids, want.input_ids);
        assert_eq!(got.indices, want.indices);
        assert_eq!(got.roles, want.roles);
        assert_eq!(got.mask, want.mask());
        assert_eq!(got.length, u64::from(want.length));
        assert_eq!(got.weight, None);
        assert_eq!(got.weights(), want.weights);
    }
    assert!(r.sample(7).is_err());
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
}

#[test]
fn weight_column_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let s = seq(16, &[16], 0.25);
    let mut w = MdsWriter::new(dir.path(), DEFAULT_SIZE_LIMIT, true).unwrap();
    w.write(&s).unwrap();
    let index = w.finish().unwrap();
    assert_eq!(index.shards[0].column_names.last().map(String::as_str), Some("weight"));
    let got = MdsReader::open(dir.path()).unwrap().sample(0).unwrap();
    assert_eq!(got.weight.as_deref(), Some(&s.weights[..]));
    assert_eq!(got.mask, s.mask());
}

#[test]
fn shard_header_matches_the_mds_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = MdsWriter::new(dir.path(), DEFAULT_SIZE_LIMIT, false).unwrap();
    w.write(&seq(3, &[3], 1.0)).unwrap();
    w.finish().unwrap();
    let b = std::fs::read(dir.path().join("shard.00000.mds")).unwrap();
    assert_eq!(&b[0..4], &1u32.to_le_bytes());
    let start = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let end = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    assert_eq!(end, b.len());
    let config = std::str::from_utf8(&b[12..start]).unwrap();
    assert!(
        config.starts_with(r#"{"column_encodings": ["ndarray:uint32", "ndarray:uint32", "int""#),
        "{config}"
    );
    // Sample: 4 variable-size columns' sizes, then indices with a (1, 2) uint8 shape header.
    let sample = &b[start..end];
    let sizes: Vec<u32> = sample[..16]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(sizes, vec![1 + 2 + 8, 1 + 1 + 12, 1 + 1 + 3, 1 + 1 + 3]);
    assert_eq!(sample[16], 2 << 2, "ndim 2, uint8 dims");
    assert_eq!(&sample[17..19], &[1, 2]);
}

#[test]
fn zstd_shards_round_trip_and_keep_the_raw_layout() {
    let seqs: Vec<Sequence> = (0..7).map(|i| seq(64, &[10 + i, 20, 64 - 30 - i], 0.5)).collect();
    let write = |dir: &Path, c: Compression| {
        let mut w = MdsWriter::new(dir, 1200, true).unwrap().compressed(c);
        for s in &seqs {
            w.write(s).unwrap();
        }
        w.finish().unwrap()
    };
    let (raw_dir, zip_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let raw = write(raw_dir.path(), Compression::None);
    let zip = write(zip_dir.path(), Compression::Zstd(Some(7)));
    assert_eq!(raw.shards.len(), zip.shards.len(), "the limit applies to the raw size");
    for (r, z) in raw.shards.iter().zip(&zip.shards) {
        assert_eq!(
            (r.compression.as_deref(), z.compression.as_deref()),
            (None, Some("zstd:7"))
        );
        // The raw name and size, as streaming records them (the header
        // says "zstd:7" where the raw one says null: 4 bytes more).
        assert_eq!(r.raw_data.basename, z.raw_data.basename);
        assert_eq!(z.raw_data.bytes, r.raw_data.bytes + 4);
        let zd = z.zip_data.as_ref().unwrap();
        assert_eq!(zd.basename, format!("{}.zstd", z.raw_data.basename));
        let on_disk = std::fs::read(zip_dir.path().join(&zd.basename)).unwrap();
        assert_eq!(on_disk.len() as u64, zd.bytes);
        assert!(
            !zip_dir.path().join(&z.raw_data.basename).exists(),
            "only the zip is kept"
        );
        let inner = zstd::stream::decode_all(&on_disk[..]).unwrap();
        assert_eq!(inner.len() as u64, z.raw_data.bytes);
        assert!(String::from_utf8_lossy(&inner).contains(r#""compression": "zstd:7""#));
    }
    let (a, b) = (
        MdsReader::open(raw_dir.path()).unwrap(),
        MdsReader::open(zip_dir.path()).unwrap(),
    );
    for i in 0..7 {
        assert_eq!(a.sample(i).unwrap(), b.sample(i).unwrap());
    }
    // A raw file beside the zip (what `streaming` leaves) is read first.
    let first = &zip.shards[0];
    let zip_path = zip_dir.path().join(&first.zip_data.as_ref().unwrap().basename);
    let inner = zstd::stream::decode_all(&std::fs::read(&zip_path).unwrap()[..]).unwrap();
    std::fs::write(zip_dir.path().join(&first.raw_data.basename), inner).unwrap();
    std::fs::write(&zip_path, b"not zstd").unwrap();
    assert_eq!(b.sample(0).unwrap(), a.sample(0).unwrap());
    std::fs::remove_file(zip_dir.path().join(&first.raw_data.basename)).unwrap();
    let err = b.sample(0).unwrap_err().to_string();
    assert!(err.contains("not a zstd stream") && err.contains(".mds.zstd"), "{err}");
    // Compressors we do not read are named.
    let index = std::fs::read_to_string(zip_dir.path().join("index.json")).unwrap();
    std::fs::write(
        zip_dir.path().join("index.json"),
        index.replace("\"zstd:7\"", "\"br:5\""),
    )
    .unwrap();
    let err = MdsReader::open(zip_dir.path()).unwrap_err().to_string();
    assert!(err.contains("compression `br:5`"), "{err}");
}

#[test]
fn compression_names_are_streamings() {
    let parse = |s: &str| Compression::try_from(s.to_owned());
    assert_eq!(parse("none"), Ok(Compression::None));
    assert_eq!(parse("zstd"), Ok(Compression::Zstd(None)));
    assert_eq!(parse("zstd:22"), Ok(Compression::Zstd(Some(22))));
    for bad in ["zstd:0", "zstd:23", "zstd:x", "gz", "", "zstd:"] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains(&format!("`{bad}`")) && e.contains("zstd:LEVEL"), "{e}");
    }
    assert_eq!(String::from(Compression::Zstd(Some(9))), "zstd:9");
    assert_eq!(Compression::None.index_name(), None);
}

#[test]
fn reader_rejects_foreign_columns_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = MdsWriter::new(dir.path(), DEFAULT_SIZE_LIMIT, false).unwrap();
    w.write(&seq(8, &[8], 1.0)).unwrap();
    w.finish().unwrap();
    let shard = dir.path().join("shard.00000.mds");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 5]).unwrap();
    let err = MdsReader::open(dir.path()).unwrap().sample(0).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    let index = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
    std::fs::write(dir.path().join("index.json"), index.replace("\"mask\"", "\"text\"")).unwrap();
    let err = MdsReader::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("unexpected column `text`"), "{err}");
}
