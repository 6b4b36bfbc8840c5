// Package ghaction holds the tests of the GitHub Action at the repository root
// (action.yml): its shell steps, taken from action.yml, run with bash under the
// environment a runner gives a composite action, against moto, the CloudFront realism
// proxy and a local file server holding a release as `make dist` lays it out.
// actionlint checks action.yml and the example workflows in `make lint`.
package ghaction
