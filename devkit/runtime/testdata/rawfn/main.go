// Command rawfn is a Lambda runtime written against the Runtime API with
// the standard library only, for the runtime package's tests of what
// aws-lambda-go never does. RAWFN_MODE=initerror reports an init error;
// otherwise it answers each event by its "action". It has no dependencies,
// so a test can copy it into a module of its own and rebuild it.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

const version = "v1"

var base = "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"

func main() {
	if os.Getenv("RAWFN_MODE") == "initerror" {
		req, _ := http.NewRequest(http.MethodPost, base+"init/error", strings.NewReader(`{"errorMessage":"cannot start: no config","errorType":"Runtime.TestInitError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.TestInitError")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		fmt.Println("rawfn: reported an init error")
		os.Exit(1)
	}
	for {
		resp, err := http.Get(base + "invocation/next")
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Println("rawfn: next failed:", err)
			os.Exit(1)
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ev struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(body, &ev)
		switch ev.Action {
		case "trailer":
			trailerError(id)
		case "protocol":
			protocol(id)
		case "errortype":
			post(base+"invocation/"+id+"/error", "text/plain", map[string]string{"Lambda-Runtime-Function-Error-Type": "Custom.Failure"}, "not json")
		default:
			post(base+"invocation/"+id+"/response", "application/json", nil, `{"version":"`+version+`"}`)
		}
	}
}

func post(url, ct string, hdr map[string]string, body string) int {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// trailerError streams part of a response, then reports an error in the
// trailers, as aws-lambda-go does when a response reader fails.
func trailerError(id string) {
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, base+"invocation/"+id+"/response", pr)
	req.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
	go func() {
		pw.Write([]byte(`{"partial":`))
		req.Trailer.Set("Lambda-Runtime-Function-Error-Type", "Runtime.StreamError")
		req.Trailer.Set("Lambda-Runtime-Function-Error-Body", base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"reader failed","errorType":"Runtime.StreamError"}`)))
		pw.Close()
	}()
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
}

// protocol makes requests out of turn and answers with the statuses the
// Runtime API gave them.
func protocol(id string) {
	status := map[string]any{}
	status["wrongId"] = post(base+"invocation/not-"+id+"/response", "application/json", nil, `{}`)
	status["initErrorLate"] = post(base+"init/error", "application/json", nil, `{}`)
	resp, err := http.Get(base + "invocation/next")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status["nextWhileBusy"] = resp.StatusCode
		var e struct{ ErrorType string }
		json.Unmarshal(b, &e)
		status["nextWhileBusyType"] = e.ErrorType
	}
	status["badMode"] = post(base+"invocation/"+id+"/response", "application/json", map[string]string{"Lambda-Runtime-Function-Response-Mode": "carrier-pigeon"}, `{}`)
	status["unknownPath"] = post(base+"invocation/"+id+"/elsewhere", "application/json", nil, `{}`)
	status["extension"] = post("http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2020-01-01/extension/register", "application/json", nil, `{}`)
	b, _ := json.Marshal(status)
	status["final"] = post(base+"invocation/"+id+"/response", "application/json", nil, string(b))
	if status["final"] != http.StatusAccepted {
		fmt.Println("rawfn: final response refused")
	}
	status["afterAnswer"] = post(base+"invocation/"+id+"/response", "application/json", nil, `{}`)
	fmt.Println("rawfn: response after the answer got", status["afterAnswer"])
}
