// Uploads one file to the end, sequentially in chunks or split into `parallelUploads` partial uploads.
import { createReadStream } from 'node:fs'
import { main, recordExchanges, uploadToTheEnd } from './tus-script.mjs'

main(async ({ endpoint, path, chunkSize, metadata, parallelUploads = 1, headers = {} }) => {
  const exchanges = []
  const upload = await uploadToTheEnd(createReadStream(path), {
    endpoint,
    chunkSize,
    metadata,
    parallelUploads,
    headers,
    onAfterResponse: recordExchanges(exchanges),
  })
  return { url: upload.url, exchanges }
})
