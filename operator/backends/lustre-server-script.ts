/**
 * The shell script every Lustre server pod runs: format each of its targets once (only when
 * `tunefs.lustre --dryrun` finds no filesystem on it), mount them, and unmount on SIGTERM. MDT0
 * carries the filesystem's one MGS; every other MDT and every OST names it with --mgsnode. With HA,
 * pods pair up by ordinal (2k serves, 2k+1 is its failover partner and stands by); both NIDs are
 * written into the target with --servicenode so clients fail over.
 *
 * Inputs (environment): ROLE (mds|oss), FSNAME, BACKFS (ldiskfs|zfs), TARGETS (targets per pod),
 * HA (true|false), STATEFULSET, SERVICE (headless Service FQDN), MGS_NIDS (every target but MDT0),
 * ZFS_OPTIONS (zfs only, e.g. compression), KEY_FILE (zfs native encryption key, optional).
 */
export const LUSTRE_SERVER_SCRIPT = String.raw`set -eu
ordinal=${'$'}{HOSTNAME##*-}
pair=$ordinal
if [ "$HA" = true ]; then
  pair=$((ordinal / 2))
  if [ $((ordinal % 2)) -eq 1 ]; then
    echo "failover partner of $STATEFULSET-$((ordinal - 1)): standing by"
    trap 'exit 0' TERM INT
    while :; do sleep 3600 & wait $!; done
  fi
fi
nid() { echo "$(getent hosts "$1" | awk '{ print $1; exit }')@tcp"; }
servicenodes=""
if [ "$HA" = true ]; then
  servicenodes="--servicenode=$(nid "$STATEFULSET-$ordinal.$SERVICE") --servicenode=$(nid "$STATEFULSET-$((ordinal + 1)).$SERVICE")"
fi
prefix=ost
if [ "$ROLE" = mds ]; then prefix=mdt; fi
mounted=""
t=0
while [ $t -lt "$TARGETS" ]; do
  device=/dev/kmesh/$prefix$t
  index=$((pair * TARGETS + t))
  target=$device
  mkfsoptions=""
  if [ "$BACKFS" = zfs ]; then
    target="$FSNAME-$prefix$index/$prefix$index"
    mkfsoptions="${'$'}{ZFS_OPTIONS:-}"
    if [ -n "${'$'}{KEY_FILE:-}" ]; then mkfsoptions="$mkfsoptions -O encryption=on -O keyformat=raw -O keylocation=file://$KEY_FILE"; fi
  fi
  if tunefs.lustre --dryrun "$target" >/dev/null 2>&1; then
    echo "$prefix$t (index $index): already formatted"
  else
    echo "$prefix$t (index $index): formatting"
    if [ "$ROLE" = mds ] && [ "$index" -eq 0 ]; then
      role_args="--mgs --mdt" # the one MGS lives with MDT0; every other target registers with it
    elif [ "$ROLE" = mds ]; then
      role_args="--mdt --mgsnode=$MGS_NIDS"
    else
      role_args="--ost --mgsnode=$MGS_NIDS"
    fi
    if [ "$BACKFS" = zfs ]; then
      mkfs.lustre --fsname="$FSNAME" --backfstype=zfs $role_args --index="$index" $servicenodes ${'$'}{mkfsoptions:+--mkfsoptions="$mkfsoptions"} "$target" "$device"
    else
      mkfs.lustre --fsname="$FSNAME" --backfstype=ldiskfs $role_args --index="$index" $servicenodes "$target"
    fi
  fi
  mkdir -p "/mnt/lustre/$prefix$t"
  mount -t lustre "$target" "/mnt/lustre/$prefix$t"
  mounted="$mounted /mnt/lustre/$prefix$t"
  t=$((t + 1))
done
trap 'for m in $mounted; do umount "$m" || umount -l "$m"; done; exit 0' TERM INT
echo "serving:$mounted"
while :; do sleep 3600 & wait $!; done
`;
