package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium to drive, or "".
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserMSALInteractive runs MSAL's interactive flow end to end with a
// real headless Chromium: MSAL opens the authorize URL (response_mode
// form_post), the browser shows the sign-in page, a user is clicked, the
// auto-submitting form posts the code to MSAL's loopback listener, and MSAL
// redeems it with PKCE.
func TestBrowserMSALInteractive(t *testing.T) {
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("no chromium at /usr/bin/chromium or on PATH; install it (apt-get install chromium) to run the browser test")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := newFixture(t)
	// Chromium trusts exactly the test server's key, nothing else.
	spki := sha256.Sum256(f.ts.Certificate().RawSubjectPublicKeyInfo)
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 45*time.Second)
	defer cancel()

	c, err := public.New(cliID, public.WithAuthority(f.ts.URL+"/"+tenantID),
		public.WithInstanceDiscovery(false), public.WithHTTPClient(f.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.AcquireTokenInteractive(ctx, []string{apiScope}, public.WithOpenURL(func(u string) error {
		button := chromedp.CSS(`button[value="` + adaOID + `"]`)
		return chromedp.Do(ctx,
			chromedp.Navigate(u),
			chromedp.WaitVisible(button),
			chromedp.Click(button),
		)
	}))
	if err != nil {
		t.Fatalf("AcquireTokenInteractive: %v", err)
	}
	// The browser ended on MSAL's own loopback page.
	done, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("browser ended at %s", done)
	_, claims := f.verify(t, res.AccessToken)
	wantClaims(t, claims, map[string]any{"aud": apiID, "azp": cliID, "azpacr": "0", "oid": adaOID, "scp": "access_as_user", "ver": "2.0"})
	if res.Account.HomeAccountID != adaOID+"."+tenantID {
		t.Errorf("home account id %q", res.Account.HomeAccountID)
	}
}
