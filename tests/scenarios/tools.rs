//! Real clients: curl and wget, as a user would try them. CI installs both;
//! elsewhere a missing one is reported and the test skipped.

use std::process::Command;

use crate::each_mode;
use crate::support::*;

each_mode! {
    fn curl_fetches_files_follows_redirects_and_reuses_connections(mode) {
        if !have("curl") {
            eprintln!("skipped: curl is not installed");
            return;
        }
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let out = Command::new("curl")
            .args(["-sS", "-f", &s.url("/a.txt")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"hello, skiff\n");
        // -L follows the 301; two URLs on one command reuse the connection.
        let out = Command::new("curl")
            .args(["-sS", "-L", "-v", &s.url("/dir"), &s.url("/a.txt")])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"<p>dir index</p>\nhello, skiff\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Re-using existing connection") || err.contains("Reusing existing"), "{err}");
        // HEAD with -I.
        let out = Command::new("curl").args(["-sS", "-I", &s.url("/a.txt")]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(text.starts_with("http/1.1 200 ok"), "{text}");
        assert!(text.contains("content-length: 13"));
    }
}

each_mode! {
    fn wget_downloads_a_file(mode) {
        if !have("wget") {
            eprintln!("skipped: wget is not installed");
            return;
        }
        let site = site();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        site.write("blob.bin", &data);
        let s = Server::start(mode, &site.path, &[]);
        let dest = TempDir::new("wget");
        let out = Command::new("wget")
            .args(["-q", "-O"])
            .arg(dest.path.join("blob.bin"))
            .arg(s.url("/blob.bin"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(std::fs::read(dest.path.join("blob.bin")).unwrap() == data);
        let out = Command::new("wget").args(["-q", "-O", "-", &s.url("/nope")]).output().unwrap();
        assert_eq!(out.status.code(), Some(8), "wget reports the 404");
    }
}
