package origin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// TestMapKeysPerDistribution maps one site (bucket "shop", prefix "site/") through four
// distributions read back through the real SDK: each serves the keys under other URLs,
// or not at all.
func TestMapKeysPerDistribution(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{})
	originPath := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "site", DomainName: "shop.s3.eu-west-1.amazonaws.com", OriginPath: "/site"},
			{ID: "api", DomainName: "api.example.com", Custom: true},
		},
		Behaviors:         []testkit.DistributionBehavior{{PathPattern: "/api/*", OriginID: "api"}},
		DefaultRootObject: "index.html",
	})
	wholeBucket := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "all", DomainName: "shop.s3.amazonaws.com"}},
	})
	otherFolder := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "www", DomainName: "shop.s3.amazonaws.com", OriginPath: "/www"}},
	})
	otherBucket := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{})
	r, _ := reader(t, cf.URL)
	ctx := context.Background()
	keys := []string{"a b.html", "api/x.json", "docs/index.html"}
	mapped := func(id, urlPrefix string) (*KeyMap, error) {
		d, err := r.Distribution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.MapKeys("shop", "site", keys, urlPrefix)
	}
	show := func(m *KeyMap) string {
		var parts []string
		for _, k := range m.Keys {
			if k.NotServed != nil {
				parts = append(parts, k.Key+"=-")
				continue
			}
			parts = append(parts, k.Key+"="+strings.Join(k.URLs, ","))
		}
		return strings.Join(parts, " ")
	}

	m, err := mapped(originPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := show(m); got != "a b.html=/a b.html api/x.json=- docs/index.html=/docs/index.html" {
		t.Errorf("origin path /site: %s", got)
	}
	if m.DefaultRootObject != "index.html" || len(m.Origins) != 1 || m.Origins[0].ID != "site" {
		t.Errorf("map %+v", m)
	}
	urls, not := m.Served()
	if len(urls) != 2 || len(not) != 1 || not[0].Key != "api/x.json" || !strings.Contains(not[0].Error(), `"/api/*" routes it to origin api`) {
		t.Errorf("served %v, not served %v", urls, not)
	}

	m, err = mapped(wholeBucket, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := show(m); got != "a b.html=/site/a b.html api/x.json=/site/api/x.json docs/index.html=/site/docs/index.html" {
		t.Errorf("no origin path: %s", got)
	}

	m, err = mapped(wholeBucket, "/docs/")
	if err != nil || show(m) != "a b.html=/docs/a b.html api/x.json=/docs/api/x.json docs/index.html=/docs/docs/index.html" {
		t.Errorf("URL prefix: %v %v", err, m)
	}
	var upe *URLPrefixError
	if _, err := mapped(wholeBucket, "docs"); !errors.As(err, &upe) || !strings.Contains(err.Error(), `write "/docs"`) {
		t.Errorf("URL prefix without '/': %v", err)
	}

	_, err = mapped(otherFolder, "")
	var ope *OriginPathError
	if !errors.As(err, &ope) || !strings.Contains(err.Error(), "/www") {
		t.Errorf("other folder: %v", err)
	}
	_, err = mapped(otherBucket, "")
	var nao *NotAnOriginError
	if !errors.As(err, &nao) || !strings.Contains(err.Error(), "site-bucket.s3.amazonaws.com") {
		t.Errorf("other bucket: %v", err)
	}
}
