package provisionerdserver

import (
	"os"
	"testing"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
)

func TestMain(m *testing.M) { os.Exit(dbtestutil.Main(m)) }
