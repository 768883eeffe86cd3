//! `nginx -t` on a rendered routes file, wrapped in a minimal main config so that a
//! `server { … }` snippet can be tested on its own, without root and without touching
//! the system's nginx.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The nginx binary: `$DRYDOCK_NGINX`, else `nginx` on PATH, else Debian's /usr/sbin/nginx.
pub fn find_nginx() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DRYDOCK_NGINX") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]).map(|d| d.join("nginx")).find(|p| p.is_file())
}

/// Runs `nginx -t` on `routes` (a server block). Err carries nginx's own message.
pub fn test_routes(nginx: &Path, routes: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!(
        "drydock-nginx-t-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let result = run(nginx, &dir, routes);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(nginx: &Path, dir: &Path, routes: &str) -> Result<(), String> {
    let d = dir.display();
    std::fs::write(dir.join("routes.conf"), routes).map_err(|e| e.to_string())?;
    // Temp paths inside our folder: as non-root, nginx -t would fail on /var/lib/nginx.
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/routes.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).map_err(|e| e.to_string())?;
    let out = Command::new(nginx)
        .arg("-t")
        .arg("-q")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg("stderr")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", nginx.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg.replace(&format!("{d}/"), "");
        Err(format!("nginx -t failed: {}", msg.trim()))
    }
}
