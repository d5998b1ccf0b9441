// Aborts an upload mid-way, then finishes it with a second Upload object that finds the first in the URL storage.
import { createReadStream } from 'node:fs'
import { FileUrlStorage } from 'tus-js-client'
import { main, recordExchanges, uploadThenAbort, uploadToTheEnd } from './tus-script.mjs'

main(async ({ endpoint, path, chunkSize, abortAfterBytes, urlStoragePath }) => {
  const urlStorage = new FileUrlStorage(urlStoragePath)
  const aborted = await uploadThenAbort(createReadStream(path), { endpoint, chunkSize, urlStorage }, abortAfterBytes)

  const exchanges = []
  let previousUploads = []
  const resumed = await uploadToTheEnd(
    createReadStream(path),
    { endpoint, chunkSize, urlStorage, onAfterResponse: recordExchanges(exchanges) },
    async (upload) => {
      previousUploads = await upload.findPreviousUploads()
      if (previousUploads.length > 0) upload.resumeFromPreviousUpload(previousUploads[0])
    },
  )
  return {
    abortedUrl: aborted.url,
    previousUploadUrls: previousUploads.map((previous) => previous.uploadUrl),
    resumedUrl: resumed.url,
    exchanges,
  }
})
