// What the tus-js-client scripts share: the config from argv, a record of every HTTP exchange, one JSON line out.
import { Upload } from 'tus-js-client'

const RECORDED_REQUEST_HEADERS = ['Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Concat', 'Content-Type']

export function recordExchanges(exchanges) {
  return (request, response) => {
    const headers = {}
    for (const name of RECORDED_REQUEST_HEADERS) {
      const value = request.getHeader(name)
      if (value !== undefined) headers[name] = value
    }
    exchanges.push({
      method: request.getMethod(),
      url: request.getURL(),
      headers,
      status: response.getStatus(),
      location: response.getHeader('Location') ?? null,
      uploadOffset: response.getHeader('Upload-Offset') ?? null,
    })
  }
}

// `prepare` runs between creating the Upload and starting it: where a resume looks up previous uploads.
export function uploadToTheEnd(file, options, prepare = async () => {}) {
  return new Promise((resolve, reject) => {
    const upload = new Upload(file, { ...options, onSuccess: () => resolve(upload), onError: reject })
    prepare(upload).then(() => upload.start(), reject)
  })
}

// Aborts from onProgress, that is in the middle of a PATCH, as a user pressing cancel would.
export function uploadThenAbort(file, options, abortAfterBytes, terminate) {
  return new Promise((resolve, reject) => {
    let aborting = false
    const upload = new Upload(file, {
      ...options,
      onProgress: (bytesSent) => {
        if (aborting || bytesSent < abortAfterBytes) return
        aborting = true
        upload.abort(terminate).then(() => resolve(upload), reject)
      },
      onSuccess: () => reject(new Error(`the upload finished before ${abortAfterBytes} bytes were sent`)),
      onError: reject,
    })
    upload.start()
  })
}

export async function main(run) {
  const config = JSON.parse(process.argv[2])
  try {
    process.stdout.write(`${JSON.stringify(await run(config))}\n`)
  } catch (error) {
    process.stderr.write(`${error.stack ?? error}\n`)
    process.exitCode = 1
  }
  // Node's keep-alive agent would hold the process for seconds after the last response; stdout to a pipe is
  // written synchronously on Linux, so nothing is lost.
  process.exit()
}
