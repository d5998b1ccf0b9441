// Bundled into an IIFE by the browser test. Creates `window.uppy` with the tus plugin pointed at the endpoint in
// the page's query string, and records Uppy's upload events in `window.uppyEvents` and on the page.
import Uppy from '@uppy/core'
import Tus from '@uppy/tus'

const endpoint = new URLSearchParams(window.location.search).get('endpoint')
const log = document.getElementById('log')

window.uppyEvents = []

function record(event) {
  window.uppyEvents.push(event)
  log.textContent += `${JSON.stringify(event)}\n`
}

window.uppy = new Uppy()
  .use(Tus, { endpoint, chunkSize: 1024 * 1024 })
  .on('upload-success', (file, response) =>
    record({ name: 'upload-success', file: file.name, uploadURL: response.uploadURL }),
  )
  .on('upload-error', (file, error, response) =>
    record({ name: 'upload-error', file: file?.name, message: String(error), status: response?.status ?? null }),
  )

record({ name: 'ready', endpoint })
