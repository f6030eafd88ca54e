## La pantalla del teléfono, como la lee quien lo está pagando.
## Frases cortas y sencillas.

page-title = Tu teléfono
language-label = Idioma
language-submit = Cambiar
imei-label = IMEI
refresh = Actualizar estado
refresh-done = Estado actualizado.
refresh-failed = No hay conexión con la financiera. Revisa tu internet e inténtalo de nuevo.

## La pantalla normal

active-heading = Tu teléfono funciona con normalidad
active-body = No hay nada bloqueado.
active-on-code = Desbloqueado con un código hasta el { $date }.
banner-due-reminder = Recordatorio de pago
banner-overdue-reminder = Pago vencido
banner-lock-notice = Aviso de bloqueo
banner-second-lock-notice = Último aviso de bloqueo
banner-notice = Mensaje de { $lender }
payment-banner = Tienes un pago pendiente. Tu teléfono sigue funcionando con normalidad.
offline-warning = Sin conexión. Este teléfono se bloqueará el { $date } si no se conecta a internet o si no ingresas un código de tu recibo de pago.

## La pantalla de bloqueo

locked-heading = Este teléfono está bloqueado
locked-by-lender = { $lender } bloqueó este teléfono.
locked-expired = Este teléfono no pudo comunicarse con { $lender } durante mucho tiempo y se bloqueó.
locked-no-lease-heading = Este teléfono aún no está activado
locked-no-lease = Conéctalo a internet para terminar la configuración.
amount-due = Monto adeudado
how-to-pay = Cómo pagar
pay-online = Paga en línea o pide ayuda
call-lender = Llamar a { $lender }
emergency-call = Llamada de emergencia
emergency-note = Las llamadas de emergencia siempre funcionan, aunque el teléfono esté bloqueado.
code-heading = Código de desbloqueo
code-label = Ingresa el código de tu recibo de pago
code-submit = Desbloquear
paid-heading = ¿Ya pagaste?
paid-label = Número de recibo o una nota breve
paid-submit = Ya pagué
paid-note = { $lender } revisará tu pago. Mientras lo revisa, el teléfono no se bloqueará solo.

## Lo que hizo un formulario

code-accepted = Código aceptado. Tu teléfono funciona hasta el { $date }.
code-wrong =
    Este código no es válido para este teléfono. Inténtalo de nuevo en { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }.
code-wait =
    Demasiados códigos incorrectos. Inténtalo de nuevo en { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }.
code-typo = El código tiene un error. Revisa los dígitos e ingrésalo de nuevo.
code-length = Un código de desbloqueo tiene { $digits } dígitos. Revísalo e ingrésalo de nuevo.
code-characters = El código solo lleva dígitos.
code-used = Este código ya se usó.
code-invalid = Este código no funciona en este teléfono.
code-expired = Este código venció el { $date }. Pide uno nuevo.
code-not-enrolled = Este teléfono aún no se ha conectado. Conéctalo una vez y luego ingresa el código.
code-released = Este teléfono ya está pagado. No necesita código.
code-not-stored = No se pudo guardar el código. Ingrésalo de nuevo, por favor.
code-empty = Primero ingresa un código.
dispute-opened = Gracias. { $lender } revisará tu pago. Tu número de referencia: { $reference }
dispute-failed = No se pudo enviar. Revisa tu internet e inténtalo de nuevo.
dispute-empty = Primero escribe el número de recibo o una nota breve.

## La pantalla de un teléfono ya pagado

free-heading = Este teléfono es tuyo
free-body = Está totalmente pagado. Nunca más se bloqueará.
