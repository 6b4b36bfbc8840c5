package siteconfig

import "testing"

// The naming schemes of the usual static-site tools, as they write them by default.
var fingerprintedNames = map[string]string{
	// Hugo: resources.Fingerprint (sha256) and image processing (old and new forms).
	"css/styles.min.5f3c2c3a1d7b8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7.css": "Hugo fingerprint",
	"js/main.0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5.js":         "Hugo fingerprint",
	"posts/trip/photo_hu_a3c41ed0f5a8c3b8.webp":                                           "Hugo image (0.123+)",
	"images/cover_hu2a31c6e8f0d9c1f65f3a1e6cdde0c22a_123456_300x0_resize_q75_box.jpg":     "Hugo image (older)",
	// Vite / Rollup: [name]-[hash].ext, 8 base64url characters.
	"index-BxYz12_a.js":     "Vite entry",
	"vendor-CfK2-4dZ.css":   "Vite chunk, '-' inside the hash",
	"js/chunk-5XJ2MMYZ.js":  "esbuild",
	"img/logo-9a8b7c6d.svg": "Vite asset (hex)",
	"app/About-Db7x3Q1p.js": "Vite lazy route",
	// webpack: [name].[contenthash].js, chunk ids, CRA, licences.
	"main.3f9a2b1c.js":                    "webpack [contenthash:8]",
	"vendors.8b5f3a9e1c2d4f6a7b8c.js":     "webpack [contenthash]",
	"737.3f9a2b1c.js":                     "webpack chunk id",
	"static/js/main.3f9a2b1c.chunk.js":    "create-react-app",
	"js/main.3f9a2b1c.js.LICENSE.txt":     "webpack licence file",
	"js/main.3f9a2b1c.js.map":             "source map",
	"8b5f3a9e1c2d4f6a7b8c.js":             "webpack [contenthash].js",
	"fonts/inter.a1b2c3d4.woff2":          "webpack asset module",
	"dist/app.bundle.7d1e8f2a9b3c4d5e.js": "webpack [name].bundle.[contenthash]",
	// Next.js (also under _next/static, listed here by name alone).
	"chunks/pages/_app-a1b2c3d4e5f6a7b8.js":        "Next.js page chunk",
	"chunks/framework-2c79e2a64abdb08b.js":         "Next.js framework chunk",
	"chunks/main-app-0a1b2c3d4e5f6789.js":          "Next.js app chunk",
	"css/9d7c5a6b1e2f3a4b.css":                     "Next.js CSS",
	"media/inter-latin.a1b2c3d4.woff2":             "Next.js media",
	"chunks/app/page-7f8e9d0c1b2a3948.js":          "Next.js app router",
	"chunks/webpack-8fa1640cc84ba8fe.js":           "Next.js runtime",
	"chunks/pages/blog/[slug]-3a4b5c6d7e8f9012.js": "Next.js dynamic route",
	// Astro (outside _astro/ with a custom build.assets).
	"static-assets/index.BxYz12_a.css":  "Astro 3+ CSS",
	"static-assets/hoisted.a1b2c3d4.js": "Astro 2 script",
	// SvelteKit (outside _app/immutable/ with a custom appDir).
	"app/entry/start.Bq3x9Z1_.js":  "SvelteKit 2 entry",
	"app/chunks/index.a1b2c3d4.js": "SvelteKit 1 chunk",
	"app/nodes/0.Dx4r7K2m.js":      "SvelteKit node",
	// Eleventy: eleventy-img ids, and a hex fingerprint from a rev plugin.
	"img/bRZ8pBCE3d-300.jpeg": "Eleventy Img",
	"img/6dfd7ac6a2-640.webp": "Eleventy Img (hex id)",
	"css/main-a1b2c3d4e5.css": "Eleventy rev plugin",
}

// Plain names, some of them long, hex-looking, versioned, dated or mixed case.
var plainNames = []string{
	"logo.png", "img/logo.png", "about-us.html", "background.css", "css/background-image.css",
	"jquery-3.7.1.min.js", "js/jquery.min.js", "bootstrap.bundle.min.js", "font-awesome-4.7.0.min.css",
	"deadbeef.js", "app.deadbeef.js", "cafebabe-1.png", "js/feedface.js", "decade.css", "accessed.txt",
	"photo-20240115.jpg", "IMG_20240115_123456.jpg", "DSC01234.JPG", "report_2024_final.pdf",
	"favicon-32x32.png", "apple-touch-icon-180x180.png", "android-chrome-512x512.png",
	"icon-GitHub2x.png", "setup-Win10Pro.exe", "case-iPhone12.png", "brand-Logo2024.svg", "promo-MyApp2Go.png",
	"fonts/Roboto-BoldItalic.ttf", "fonts/Inter-Regular.woff2", "fonts/roboto-v30-latin-regular.woff2",
	"fonts/noto-sans-jp-v52-japanese-700.woff2", "materialdesignicons-webfont.woff2",
	"downloads/manual-v2.1.pdf", "docs/changelog-2024-01.md", "videos/intro-1080p.mp4",
	".htaccess", "README", "assets-manifest.json", "CNAME", "_redirects", "ads.txt",
	"js/analytics.js", "js/Application.js", "css/print.css", "blog/2024/01/15/cover.jpg",
	"index-DiwrgTda.js", // a real Rollup hash without digits: not recognised (see Fingerprinted)
}

func TestFingerprinted(t *testing.T) {
	for name, scheme := range fingerprintedNames {
		if !Fingerprinted(name) {
			t.Errorf("Fingerprinted(%q) = false, want true (%s)", name, scheme)
		}
	}
	for _, name := range plainNames {
		if Fingerprinted(name) {
			t.Errorf("Fingerprinted(%q) = true, want false: a plain name must never be cached as immutable", name)
		}
	}
}

// The default rules give fingerprinted names outside the known folders a year,
// immutable, and leave pages and plain names as they were.
func TestDefaultFingerprinted(t *testing.T) {
	c := Default()
	const immutable = "public, max-age=31536000, immutable"
	for name := range fingerprintedNames {
		if r, _ := c.Match(name); r.Headers["Cache-Control"] != immutable {
			t.Errorf("Default().Match(%q): Cache-Control %q, want %q", name, r.Headers["Cache-Control"], immutable)
		}
	}
	for _, name := range plainNames {
		if r, _ := c.Match(name); r.Headers["Cache-Control"] == immutable {
			t.Errorf("Default().Match(%q): immutable, want a revalidated or short cache", name)
		}
	}
	// A page or a file fetched by a fixed name never becomes immutable, whatever its name.
	for _, name := range []string{"page.3f9a2b1c.html", "sitemap.3f9a2b1c.xml", "sw.js"} {
		if r, _ := c.Match(name); r.Headers["Cache-Control"] == immutable {
			t.Errorf("Default().Match(%q): immutable", name)
		}
	}
}

func FuzzFingerprinted(f *testing.F) {
	for name := range fingerprintedNames {
		f.Add(name)
	}
	for _, name := range plainNames {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, key string) {
		_ = Fingerprinted(key) // must not panic on any key
	})
}
