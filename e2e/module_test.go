package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestImportable: another module builds a function with lambdaauth and
// lambdaconfig by the module path docs/deploy-lambda.md gives (a replace
// directive stands in for the published repository).
func TestImportable(t *testing.T) {
	if testing.Short() {
		t.Skip("resolves modules")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/myfunction\n\ngo 1.26\n\n" +
			"require github.com/gatehouse-dev/gatehouse v0.0.0\n\n" +
			"replace github.com/gatehouse-dev/gatehouse => " + root + "\n",
		"main.go": `package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/lambdaconfig"
)

func main() {
	cfg, err := lambdaconfig.Load(context.Background(), "gatehouse.yaml", lambdaconfig.Options{})
	if err != nil {
		log.Fatal(err)
	}
	guard, err := lambdaauth.New(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(guard.WrapHTTPAPI(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		c, _ := lambdaauth.FromContext(ctx)
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: c.Principal.Subject}, nil
	}))
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", filepath.Join(dir, "bootstrap"), "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
}
