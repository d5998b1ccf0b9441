// Aborts an upload mid-way with `abort(true)`, which also asks the server to delete it (termination extension).
import { createReadStream } from 'node:fs'
import { main, recordExchanges, uploadThenAbort } from './tus-script.mjs'

main(async ({ endpoint, path, chunkSize, abortAfterBytes }) => {
  const exchanges = []
  const options = { endpoint, chunkSize, onAfterResponse: recordExchanges(exchanges) }
  const upload = await uploadThenAbort(createReadStream(path), options, abortAfterBytes, true)
  return { url: upload.url, exchanges }
})
