package origin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// TestMapPerDistribution maps one site (bucket "shop", prefix "site/") through four
// distributions read back through the real SDK: each serves the keys under other URLs,
// or not at all. (Ported from issue9-verify's MapKeys test onto Map, which deploy uses.)
func TestMapPerDistribution(t *testing.T) {
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
	keys := []string{"site/a b.html", "site/api/x.json", "site/docs/index.html"}
	mapped := func(id, urlPrefix string) (*KeyMap, error) {
		d, err := r.Distribution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Map(MapOptions{Bucket: "shop", Prefix: "site/", URLPrefix: urlPrefix, IndexDocument: "index.html"}, keys, keys)
	}

	m, err := mapped(originPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Changed, ","); got != "a b.html,docs/index.html" || len(m.Origins) != 1 || m.Origins[0].ID != "site" || len(m.Extra) != 0 {
		t.Errorf("origin path /site: %q %+v", got, m)
	}
	if len(m.NotServed) != 1 || m.NotServed[0].Key != "site/api/x.json" || !strings.Contains(m.NotServed[0].Error(), `"/api/*" routes it to origin api`) {
		t.Errorf("not served %v", m.NotServed)
	}

	m, err = mapped(wholeBucket, "")
	if err != nil || strings.Join(m.Changed, ",") != "site/a b.html,site/api/x.json,site/docs/index.html" {
		t.Errorf("no origin path: %v %v", err, m)
	}
	up, err := CheckURLPrefix("/docs/")
	if err != nil {
		t.Fatal(err)
	}
	m, err = mapped(wholeBucket, up)
	if err != nil || strings.Join(m.Changed, ",") != "docs/a b.html,docs/api/x.json,docs/docs/index.html" {
		t.Errorf("URL prefix: %v %v", err, m)
	}
	var upe *URLPrefixError
	if _, err := CheckURLPrefix("docs"); !errors.As(err, &upe) || !strings.Contains(err.Error(), `"/docs"`) {
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
