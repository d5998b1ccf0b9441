// Uploads one file with tus-js-client speaking the IETF resumable upload draft (`protocol`), either straight
// through or, given `abortAfterBytes`, aborted mid-way and finished by a second Upload found in the URL storage.
import { createReadStream } from 'node:fs'
import { FileUrlStorage } from 'tus-js-client'
import { main, uploadThenAbort, uploadToTheEnd } from './tus-script.mjs'

const DRAFT_HEADERS = ['Upload-Draft-Interop-Version', 'Upload-Complete', 'Upload-Offset', 'Upload-Length', 'Content-Type']

function recordDraftExchanges(exchanges) {
  return (request, response) => {
    const headers = {}
    for (const name of DRAFT_HEADERS) {
      const value = request.getHeader(name)
      if (value !== undefined) headers[name] = value
    }
    exchanges.push({
      method: request.getMethod(),
      headers,
      tusResumable: request.getHeader('Tus-Resumable') ?? null,
      status: response.getStatus(),
      uploadOffset: response.getHeader('Upload-Offset') ?? null,
      uploadComplete: response.getHeader('Upload-Complete') ?? null,
    })
  }
}

main(async ({ endpoint, path, chunkSize, protocol, metadata, abortAfterBytes, urlStoragePath }) => {
  const urlStorage = new FileUrlStorage(urlStoragePath)
  const options = { endpoint, chunkSize, protocol, metadata, urlStorage }
  let abortedUrl = null
  const abortedExchanges = []
  if (abortAfterBytes) {
    const aborted = await uploadThenAbort(
      createReadStream(path),
      { ...options, onAfterResponse: recordDraftExchanges(abortedExchanges) },
      abortAfterBytes,
    )
    abortedUrl = aborted.url
  }

  const exchanges = []
  let previousUploads = []
  const finished = await uploadToTheEnd(
    createReadStream(path),
    { ...options, onAfterResponse: recordDraftExchanges(exchanges) },
    async (upload) => {
      previousUploads = await upload.findPreviousUploads()
      if (previousUploads.length > 0) upload.resumeFromPreviousUpload(previousUploads[0])
    },
  )
  return { abortedUrl, abortedExchanges, url: finished.url, exchanges }
})
