// edgeflush releases: one CloudFront Function (JavaScript runtime 2.0) associated with the
// default cache behavior for both viewer-request and viewer-response. It routes every
// request to the current release (the KeyValueStore key "current") under the bucket's
// _releases/<id>/ folder, so a switch is one KeyValueStore write and needs no
// invalidation: the release id is part of the URI, and so of the cache key.
//
// Pages already open keep working: a page's response sets the cookie edgeflush-release
// (from the object's x-amz-meta-edgeflush-release, which every HTML object of a release
// carries), and the assets that page asks for afterwards (anything that is not a page) are
// served from the release the cookie names, while edgeflush keeps it (GRACE_SECONDS after it
// stopped being current). New page views always get the current release.
//
// Shipped as is by `edgeflush setup --release` and tested as is in the edge emulator.
// Keep it under CloudFront's 10 KB function size. See docs/releases.md.
import cf from 'cloudfront';

const kvs = cf.kvs();
const ROOT = '/_releases/';
const COOKIE = 'edgeflush-release';
const META = 'x-amz-meta-edgeflush-release';
const GRACE_SECONDS = 3600;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

// A page is what a browser navigates to: a directory URL, a URL whose last segment has
// no extension (pretty URLs), or an .html/.htm file. Everything else is an asset.
function isPage(uri) {
    if (uri.endsWith('/')) {
        return true;
    }
    const last = uri.substring(uri.lastIndexOf('/') + 1);
    return last.indexOf('.') < 0 || last.endsWith('.html') || last.endsWith('.htm');
}

// The pretty-URL rule and the default root object: /dir/ and /dir read dir/index.html.
function objectPath(uri) {
    if (uri.endsWith('/')) {
        return uri + 'index.html';
    }
    const last = uri.substring(uri.lastIndexOf('/') + 1);
    if (last.indexOf('.') < 0) {
        return uri + '/index.html';
    }
    return uri;
}

async function viewerRequest(request) {
    let current;
    try {
        current = await kvs.get('current');
    } catch (err) {
        // No release made current yet: serve the bucket as it is.
        return request;
    }
    if (!ID.test(current)) {
        return request;
    }
    let id = current;
    const cookie = request.cookies[COOKIE];
    if (cookie && ID.test(cookie.value) && !isPage(request.uri)) {
        id = cookie.value;
    }
    request.uri = ROOT + id + objectPath(request.uri);
    return request;
}

function viewerResponse(response) {
    const release = response.headers[META];
    if (release && ID.test(release.value)) {
        response.cookies[COOKIE] = {
            value: release.value,
            attributes: 'Path=/; Max-Age=' + GRACE_SECONDS + '; Secure; SameSite=Lax',
        };
    }
    return response;
}

async function handler(event) {
    if (event.context.eventType === 'viewer-response') {
        return viewerResponse(event.response);
    }
    return viewerRequest(event.request);
}
