// Takes Claude Code's refresh locks the way Claude Code does, with the library it uses
// (proper-lockfile, directories created with mkdir, mtime touched every `update` ms):
//   1. <dir>/.oauth_refresh.lock        (lockfilePath inside the config dir)
//   2. <realpath(dir)>.lock             (the legacy one, proper-lockfile's default path)
// as read in Claude Code 2.1.197's bundle (stale 10 s, update stale/2; a busy legacy lock makes
// it release the first and try again, 1-2 s later, a few times).
//
// With `write`, the lock every write of the credentials takes instead:
//   <dir>/.storage-write.lock           (file <dir>/.storage-write, stale 15 s)
//
// usage: node claude_lock.cjs DIR [refresh|legacy|both|write]
// Prints one JSON line: {"locked": [paths]} then holds until a line (or EOF) on stdin,
// releases and prints {"released": true}; or {"busy": path} and exits 3 when a lock is held
// by someone else (one try, no retries: the caller decides when to try again).
'use strict'
const path = require('path')
const fs = require('fs')
const lockfile = require('proper-lockfile')

const STALE = 10000

async function main() {
  const dir = process.argv[2]
  const which = process.argv[3] || 'both'
  const wanted = []
  if (which === 'refresh' || which === 'both') {
    wanted.push({ file: dir, lockfilePath: path.join(dir, '.oauth_refresh.lock') })
  }
  if (which === 'legacy' || which === 'both') {
    // Claude passes the lock path itself as the file (proper-lockfile keys its locks by file).
    const legacy = fs.realpathSync(dir) + '.lock'
    wanted.push({ file: legacy, lockfilePath: legacy })
  }
  if (which === 'write') {
    const file = path.join(dir, '.storage-write')
    wanted.push({ file, lockfilePath: file + '.lock', stale: 15000 })
  }
  const releases = []
  for (const lock of wanted) {
    try {
      releases.push(
        await lockfile.lock(lock.file, {
          realpath: false,
          lockfilePath: lock.lockfilePath,
          stale: lock.stale || STALE,
          update: (lock.stale || STALE) / 2,
          retries: 0,
          onCompromised: (err) => {
            console.log(JSON.stringify({ compromised: String(err) }))
          },
        }),
      )
    } catch (err) {
      for (const release of releases.reverse()) await release()
      if (err.code === 'ELOCKED') {
        console.log(JSON.stringify({ busy: lock.lockfilePath }))
        process.exit(3)
      }
      console.log(JSON.stringify({ error: String(err) }))
      process.exit(2)
    }
  }
  console.log(JSON.stringify({ locked: wanted.map((l) => l.lockfilePath) }))
  await new Promise((resolve) => {
    process.stdin.once('data', resolve)
    process.stdin.once('end', resolve)
  })
  for (const release of releases.reverse()) await release()
  console.log(JSON.stringify({ released: true }))
  process.exit(0)
}

main()
