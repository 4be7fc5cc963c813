#!/bin/sh
# mmdebstrap customize hook for the toss test-host rootfs; $1 is the chroot.
# Part of the rootfs cache key: any edit here rebuilds the rootfs.
set -eu
root="$1"

# mmdebstrap writes no /etc/hosts; Caddy's admin endpoint and sudo need localhost to resolve.
# The per-host name is added at boot (in the host's overlay upper dir).
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo localhost >"$root/etc/hostname"

# deploy: the unprivileged login toss is usually given, with passwordless sudo.
chroot "$root" useradd --create-home --shell /bin/bash deploy
echo 'deploy ALL=(ALL:ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/deploy"
chmod 0440 "$root/etc/sudoers.d/deploy"
install -d -m 0700 "$root/root/.ssh"
install -d -m 0700 "$root/home/deploy/.ssh"
chroot "$root" chown deploy:deploy /home/deploy/.ssh

# Keys only; and no host keys in the image, so every host makes its own at first boot.
echo 'PasswordAuthentication no' >"$root/etc/ssh/sshd_config.d/toss-test.conf"
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
# The reset keeps Debian's `sshd -t` check but only after the keys exist.
cat >"$root/etc/systemd/system/ssh.service.d/host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF

# Timers that would start apt/dpkg work in the middle of a test.
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer \
  e2scrub_all.timer man-db.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

# Caddy with its own CA (no ACME from a host without a route out), plus one site of "the user's".
cat >"$root/etc/caddy/Caddyfile" <<'EOF'
{
	local_certs
	skip_install_trust
}

# The user's own site: toss must leave it alone.
https://harness.test {
	respond "user site"
}
EOF

# PostgreSQL (default image only) starts when a test asks for it (test/e2e/support/postgres.ts),
# not at every boot: most tests never use it, and its start added 1-1.7 s to each host's boot.
if [ -f "$root/etc/postgresql/15/main/start.conf" ]; then
  echo manual >"$root/etc/postgresql/15/main/start.conf"
fi
